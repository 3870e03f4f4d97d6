#include "storage/transaction.h"

#include <string>
#include <utility>

#include "base/log.h"
#include "storage/database.h"

namespace escrow::storage {
namespace {

constexpr Query kBegin{"begin transaction", "BEGIN IMMEDIATE"};
constexpr Query kBeginRead{"begin read transaction", "BEGIN"};
constexpr Query kCommit{"commit", "COMMIT"};
constexpr Query kRollback{"rollback", "ROLLBACK"};

void LogUndoFailure(const Status& s) {
  LogError("sqlite_rollback_failed", s.ToString());
}

Status RunSavepointSql(Database& db, std::string_view name, const std::string& sql) {
  return db.Run({name, sql});
}

std::string SavepointName(int depth) { return "escrow_sp" + std::to_string(depth); }

}  // namespace

Result<Transaction> Transaction::Begin(Database& db) {
  ESCROW_RETURN_IF_ERROR(db.Run(kBegin));
  return Transaction(&db);
}

Result<Transaction> Transaction::BeginRead(Database& db) {
  ESCROW_RETURN_IF_ERROR(db.Run(kBeginRead));
  return Transaction(&db);
}

Transaction::Transaction(Transaction&& other) noexcept : db_(std::exchange(other.db_, nullptr)) {}

Transaction::~Transaction() {
  if (db_ == nullptr) return;
  if (Status s = Rollback(); !s.ok()) LogUndoFailure(s);
}

Status Transaction::Commit() {
  if (db_ == nullptr) return Status::Internal("commit: no transaction");
  if (!db_->in_transaction()) {
    // SQLite rolled back on its own after an error (disk full, I/O): nothing to commit.
    db_ = nullptr;
    return Status::Unavailable("commit: the transaction was rolled back by an earlier error");
  }
  ESCROW_RETURN_IF_ERROR(db_->Run(kCommit));
  db_ = nullptr;
  return Status::Ok();
}

Status Transaction::Rollback() {
  Database* db = std::exchange(db_, nullptr);
  if (db == nullptr || !db->in_transaction()) return Status::Ok();
  return db->Run(kRollback);
}

Result<Savepoint> Savepoint::Begin(Database& db, int depth) {
  ESCROW_RETURN_IF_ERROR(RunSavepointSql(db, "savepoint", "SAVEPOINT " + SavepointName(depth)));
  return Savepoint(&db, depth);
}

Savepoint::Savepoint(Savepoint&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)), depth_(other.depth_) {}

Savepoint::~Savepoint() {
  if (db_ == nullptr) return;
  if (Status s = Rollback(); !s.ok()) LogUndoFailure(s);
}

Status Savepoint::Release() {
  if (db_ == nullptr) return Status::Internal("release savepoint: not open");
  if (!db_->in_transaction()) {
    db_ = nullptr;
    return Status::Unavailable("release savepoint: the transaction was rolled back by an error");
  }
  ESCROW_RETURN_IF_ERROR(
      RunSavepointSql(*db_, "release savepoint", "RELEASE " + SavepointName(depth_)));
  db_ = nullptr;
  return Status::Ok();
}

Status Savepoint::Rollback() {
  Database* db = std::exchange(db_, nullptr);
  if (db == nullptr) return Status::Ok();
  if (!db->in_transaction()) {
    return Status::Unavailable("roll back savepoint: the transaction was rolled back by an error");
  }
  const std::string name = SavepointName(depth_);
  ESCROW_RETURN_IF_ERROR(RunSavepointSql(*db, "roll back savepoint", "ROLLBACK TO " + name));
  return RunSavepointSql(*db, "release savepoint", "RELEASE " + name);
}

}  // namespace escrow::storage
