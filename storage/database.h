#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "base/result.h"
#include "storage/statement.h"

struct sqlite3;

namespace escrow::storage {

struct DatabaseOptions {
  std::string path;
  bool create = false;     // SQLITE_OPEN_CREATE
  bool read_only = false;  // SQLITE_OPEN_READONLY: the store's read pool
  int busy_timeout_ms = 5000;
  // Switch to WAL at open. The store's writer sets it only after it has checked that the
  // file is a vault database, so that a wrong path never converts someone else's file.
  bool enable_wal = true;
};

// One SQLite connection (private to storage/), opened with sqlite3_open_v2 and explicit
// flags, with journal_mode=WAL, synchronous=FULL, foreign_keys=ON, a busy timeout,
// trusted_schema=OFF and SQLITE_DBCONFIG_DEFENSIVE (the file is untrusted). Keeps a cache
// of persistent prepared statements, keyed by SQL text. Not movable: its statements point
// back to it. Not thread-safe: one thread at a time (SQLITE_OPEN_NOMUTEX).
class Database {
 public:
  // kUnavailable if the file cannot be opened, kDataLoss if it is not a database,
  // kFailedPrecondition if WAL cannot be enabled.
  static Result<std::unique_ptr<Database>> Open(const DatabaseOptions& options);

  Database(const Database&) = delete;  // two owners would close it twice
  Database& operator=(const Database&) = delete;
  Database(Database&&) = delete;  // its statements point back to it
  Database& operator=(Database&&) = delete;
  ~Database();  // finalizes cached statements, then sqlite3_close (logs a failure)

  // The cached statement for `query`, prepared once with SQLITE_PREPARE_PERSISTENT.
  Result<StatementLease> Prepare(const Query& query);
  // A statement used once (e.g. EXPLAIN QUERY PLAN in tests, or migrations).
  Result<Statement> PrepareOnce(const Query& query);
  // PRAGMA journal_mode=WAL, checked: kFailedPrecondition if the mode does not change (a
  // read-only connection reports the mode the writer has set).
  Status EnableWal();
  // Prepares (cached) and runs a statement that returns no rows.
  Status Run(const Query& query);
  // Runs several `;`-separated statements (migrations), none cached.
  Status RunScript(std::string_view name, std::string_view sql);
  // The first column of the first row of `PRAGMA <pragma>` as text ("" if no row).
  // REQUIRES: `pragma` is a constant of ours, never a value from input.
  Result<std::string> Pragma(std::string_view pragma);

  // True inside BEGIN ... COMMIT (sqlite3_get_autocommit is false).
  bool in_transaction() const;
  // Rows changed by the last INSERT, UPDATE or DELETE.
  std::int64_t changes() const;
  // True if the file is open read-only, by request or because it is write-protected.
  bool read_only() const;

  // Records a failed call; see IsConnectionFatal. Called by Statement and Transaction.
  void NoteResult(int rc);
  // True once an error left the connection unfit for use: the store replaces it.
  bool broken() const { return broken_; }

  const std::string& path() const { return path_; }
  // For sqlite3_backup_init only.
  sqlite3* handle() const { return db_; }

 private:
  Database(sqlite3* db, std::string path);
  Status Configure(const DatabaseOptions& options);

  struct SqlHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  sqlite3* db_ = nullptr;
  std::string path_;
  bool broken_ = false;
  // Cleared first in the destructor: statements are finalized before the connection closes.
  std::unordered_map<std::string, std::unique_ptr<Statement>, SqlHash, std::equal_to<>> cache_;
};

}  // namespace escrow::storage
