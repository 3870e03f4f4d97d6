#include "storage/maintenance.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <vector>

#include <sqlite3.h>

#include "base/unique_fd.h"
#include "storage/database.h"
#include "storage/sqlite_error.h"

namespace escrow::storage {
namespace {

struct Sqlite3Closer {
  void operator()(sqlite3* db) const { sqlite3_close(db); }
};
using Sqlite3Ptr = std::unique_ptr<sqlite3, Sqlite3Closer>;

Status Errno(std::string_view what, const std::string& path) {
  const int err = errno;
  return Status::Unavailable(std::string(what) + " " + path + ": " + std::strerror(err));
}

Status SyncFile(const std::string& path) {
  const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return Errno("open", path);
  return ::fsync(fd.get()) == 0 ? Status::Ok() : Errno("fsync", path);
}

void RemoveQuietly(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove(path, ec);
}

// Runs the backup into `partial`, which exists and is empty.
Status CopyInto(Database& source, const std::string& partial) {
  sqlite3* raw = nullptr;
  const int open_rc =
      sqlite3_open_v2(partial.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE, nullptr);
  Sqlite3Ptr dest(raw);
  if (open_rc != SQLITE_OK) return FromSqlite(open_rc, "open backup file");
  sqlite3_backup* backup = sqlite3_backup_init(dest.get(), "main", source.handle(), "main");
  if (backup == nullptr) return FromSqlite(sqlite3_extended_errcode(dest.get()), "start backup");
  const int step_rc = sqlite3_backup_step(backup, -1);
  const int finish_rc = sqlite3_backup_finish(backup);
  if (step_rc != SQLITE_DONE) {
    source.NoteResult(step_rc);
    return FromSqlite(step_rc, "copy backup");
  }
  if (finish_rc != SQLITE_OK) return FromSqlite(finish_rc, "finish backup");
  const int close_rc = sqlite3_close(dest.release());
  if (close_rc != SQLITE_OK) return FromSqlite(close_rc, "close backup file");
  return Status::Ok();
}

}  // namespace

Status SyncDirectory(const std::string& dir) {
  const UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return Errno("open directory", dir);
  return ::fsync(fd.get()) == 0 ? Status::Ok() : Errno("fsync directory", dir);
}

Status BackupDatabase(Database& source, const std::string& path) {
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) {
    return Status::AlreadyExists("backup target exists: " + path);
  }
  const std::string partial = path + ".partial";
  // O_EXCL: two backups to one path must not write into each other's file.
  UniqueFd fd(::open(partial.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd.valid()) {
    if (errno == EEXIST) {
      return Status::AlreadyExists("a backup is in progress or was interrupted: " + partial);
    }
    return Errno("create", partial);
  }
  ESCROW_RETURN_IF_ERROR(fd.Close(partial));

  Status s = CopyInto(source, partial);
  if (s.ok()) s = SyncFile(partial);
  if (s.ok() && ::link(partial.c_str(), path.c_str()) != 0) {
    s = errno == EEXIST ? Status::AlreadyExists("backup target exists: " + path)
                        : Errno("link backup to", path);
  }
  RemoveQuietly(partial);
  RemoveQuietly(partial + "-journal");
  if (!s.ok()) return s;
  std::string dir = std::filesystem::path(path).parent_path().string();
  return SyncDirectory(dir.empty() ? "." : dir);
}

Status CheckIntegrity(Database& db) {
  {
    ESCROW_ASSIGN_OR_RETURN(Statement stmt,
                            db.PrepareOnce({"integrity check", "PRAGMA integrity_check"}));
    std::vector<std::string> problems;
    Status step_error;
    while (true) {
      Result<bool> row = stmt.Step();
      if (!row.ok()) {
        step_error = row.status();  // SQLite may stop at damage it cannot walk past
        break;
      }
      if (!*row) break;
      problems.push_back(stmt.ColumnText(0));
    }
    if (problems.empty() && !step_error.ok()) return step_error;
    if (problems.empty()) return Status::Internal("integrity check: no answer");
    if (problems.size() != 1 || problems[0] != "ok") {
      std::string first = problems[0];
      constexpr std::string_view kHeader = "*** in database main ***\n";
      if (first.starts_with(kHeader)) first.erase(0, kHeader.size());
      std::string message = "integrity check failed: " + first;
      if (problems.size() > 1) {
        message += " (and " + std::to_string(problems.size() - 1) + " more)";
      }
      return Status::DataLoss(std::move(message));
    }
  }
  ESCROW_ASSIGN_OR_RETURN(Statement stmt,
                          db.PrepareOnce({"foreign key check", "PRAGMA foreign_key_check"}));
  ESCROW_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (row) {
    return Status::DataLoss("foreign key check failed: a row of " + stmt.ColumnText(0) +
                            " references a missing row of " + stmt.ColumnText(2));
  }
  return Status::Ok();
}

}  // namespace escrow::storage
