#include "storage/database.h"

#include <mutex>
#include <utility>

#include <sqlite3.h>

#include "base/log.h"
#include "storage/sqlite_error.h"

namespace escrow::storage {
namespace {

// SQLite keeps memory statistics under one global mutex taken on every allocation, so that the
// vault's threads queue on it (futex waits in the profile). The vault never reads them.
// sqlite3_config works only before SQLite initialises; if something in the process initialised
// it first, its setting stays and nothing else changes.
void DisableMemoryStatisticsOnce() {
  static std::once_flag once;
  std::call_once(once, [] { (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); });
}

}  // namespace

Database::Database(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}

Database::~Database() {
  cache_.clear();
  const int rc = sqlite3_close(db_);
  if (rc != SQLITE_OK) {
    LogError("sqlite_close_failed", sqlite3_errstr(rc));
  }
}

Result<std::unique_ptr<Database>> Database::Open(const DatabaseOptions& options) {
  DisableMemoryStatisticsOnce();
  int flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
  if (options.read_only) {
    flags |= SQLITE_OPEN_READONLY;
  } else {
    flags |= SQLITE_OPEN_READWRITE;
    if (options.create) flags |= SQLITE_OPEN_CREATE;
  }
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(options.path.c_str(), &raw, flags, nullptr);
  // sqlite3_open_v2 hands back a handle to close even when it fails.
  std::unique_ptr<Database> db(new Database(raw, options.path));
  if (rc != SQLITE_OK) return FromSqlite(rc, "open " + options.path);
  if (Status s = db->Configure(options); !s.ok()) return s.WithContext("open " + options.path);
  return db;
}

Status Database::Configure(const DatabaseOptions& options) {
  sqlite3_extended_result_codes(db_, 1);
  if (int rc = sqlite3_busy_timeout(db_, options.busy_timeout_ms); rc != SQLITE_OK) {
    return FromSqlite(rc, "set busy timeout");
  }
  // The file is untrusted: no schema edits through writable_schema, no functions with side
  // effects called from views or triggers that someone may have planted in it.
  if (int rc = sqlite3_db_config(db_, SQLITE_DBCONFIG_DEFENSIVE, 1, nullptr); rc != SQLITE_OK) {
    return FromSqlite(rc, "set defensive mode");
  }
  if (int rc = sqlite3_db_config(db_, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, nullptr);
      rc != SQLITE_OK) {
    return FromSqlite(rc, "set trusted_schema");
  }
  if (options.enable_wal) ESCROW_RETURN_IF_ERROR(EnableWal());
  // A 2xx answer to a write means the write is on disk (DESIGN.md, Storage).
  ESCROW_RETURN_IF_ERROR(Pragma("synchronous=FULL").status());
  ESCROW_RETURN_IF_ERROR(Pragma("foreign_keys=ON").status());
  // Deleted and overwritten content is overwritten with zeros, in the page and in the pages
  // freed: a destroyed key version's ciphertext ([policy] keep_versions) leaves the file at
  // the next checkpoint instead of lingering in free space.
  ESCROW_ASSIGN_OR_RETURN(std::string secure_delete, Pragma("secure_delete=ON"));
  if (secure_delete != "1") {
    return Status::FailedPrecondition("this SQLite cannot turn secure_delete on");
  }
  // 16 MiB of pages per connection instead of SQLite's 2 MiB: the indexes that requests
  // touch (devices, active versions, audit by device) stay in memory on a large fleet.
  // Pages hold ciphertext only.
  ESCROW_RETURN_IF_ERROR(Pragma("cache_size=-16384").status());
  ESCROW_ASSIGN_OR_RETURN(std::string fk, Pragma("foreign_keys"));
  if (fk != "1") return Status::FailedPrecondition("this SQLite cannot enforce foreign keys");
  return Status::Ok();
}

Status Database::EnableWal() {
  ESCROW_ASSIGN_OR_RETURN(std::string mode, Pragma("journal_mode=WAL"));
  if (mode != "wal") {
    return Status::FailedPrecondition("could not enable WAL (journal_mode is " + mode + ")");
  }
  return Status::Ok();
}

Result<StatementLease> Database::Prepare(const Query& query) {
  auto it = cache_.find(query.sql);
  if (it == cache_.end()) {
    sqlite3_stmt* stmt = nullptr;
    const int rc = sqlite3_prepare_v3(db_, query.sql.data(), static_cast<int>(query.sql.size()),
                                      SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) {
      sqlite3_finalize(stmt);
      NoteResult(rc);
      return FromSqlite(rc, query.name);
    }
    it = cache_.emplace(std::string(query.sql), std::make_unique<Statement>(this, stmt, query.name))
             .first;
  }
  return StatementLease(it->second.get());
}

Result<Statement> Database::PrepareOnce(const Query& query) {
  sqlite3_stmt* stmt = nullptr;
  const int rc = sqlite3_prepare_v3(db_, query.sql.data(), static_cast<int>(query.sql.size()), 0,
                                    &stmt, nullptr);
  Statement statement(this, stmt, query.name);
  if (rc != SQLITE_OK) {
    NoteResult(rc);
    return FromSqlite(rc, query.name);
  }
  return statement;
}

Status Database::Run(const Query& query) {
  ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, Prepare(query));
  return stmt->Run();
}

Status Database::RunScript(std::string_view name, std::string_view sql) {
  const std::string text(sql);  // sqlite3_exec wants a terminated string
  const int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) {
    NoteResult(rc);
    return FromSqlite(rc, name);
  }
  return Status::Ok();
}

Result<std::string> Database::Pragma(std::string_view pragma) {
  const std::string sql = "PRAGMA " + std::string(pragma);
  ESCROW_ASSIGN_OR_RETURN(Statement stmt, PrepareOnce({sql, sql}));  // named by its text
  ESCROW_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return std::string();
  return stmt.ColumnText(0);
}

bool Database::in_transaction() const { return sqlite3_get_autocommit(db_) == 0; }

std::int64_t Database::changes() const { return sqlite3_changes64(db_); }

bool Database::read_only() const { return sqlite3_db_readonly(db_, "main") == 1; }

void Database::NoteResult(int rc) {
  if (IsConnectionFatal(rc)) broken_ = true;
}

}  // namespace escrow::storage
