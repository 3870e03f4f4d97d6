#pragma once

#include "base/result.h"
#include "storage/pg_connection.h"

namespace escrow::storage {

// The connection and the health of one open PostgreSQL transaction, read or write (private
// to storage/), shared by the narrow stores that run their statements in it.
//
// PostgreSQL ends a transaction's usefulness at its first failed statement (every later one
// is refused until ROLLBACK). txn.h promises that row-level errors (kAlreadyExists,
// kNotFound, kInvalidArgument, kFailedPrecondition) leave a write transaction usable, so
// every change runs inside a savepoint: a row-level error rolls back to it and is returned;
// any other error (connection lost, lock timeout, serialization failure, internal) poisons
// the transaction: every later call returns that error and it ends in failure even if its
// callback returned OK. A failed read poisons too (reads raise no row-level errors of their
// own; a value PostgreSQL refuses, such as text that is not UTF-8, fails the transaction).
// Not thread-safe: one per transaction.
class PgTxnContext {
 public:
  explicit PgTxnContext(PgConnection& conn) : conn_(conn) {}
  PgTxnContext(const PgTxnContext&) = delete;  // the stores point at this one
  PgTxnContext& operator=(const PgTxnContext&) = delete;
  PgTxnContext(PgTxnContext&&) = delete;
  PgTxnContext& operator=(PgTxnContext&&) = delete;
  ~PgTxnContext() = default;

  // OK, or the first error that made the transaction unfit to go on.
  const Status& poison() const { return poison_; }

  // A SELECT. Errors poison the transaction.
  Result<PgResult> Read(const Query& query, const PgParams& params = {});
  // An INSERT, UPDATE or DELETE (possibly RETURNING rows), in its own savepoint.
  Result<PgResult> Change(const Query& query, const PgParams& params = {});

  // Savepoints for WriteTxn::Isolated, named by depth. Errors poison.
  Status BeginSavepoint(int depth);
  Status ReleaseSavepoint(int depth);
  Status RollbackToSavepoint(int depth);

  // Records `s` as the poison unless it is a row-level error.
  void Track(const Status& s);

 private:
  Status RunControl(std::string_view name, const std::string& sql);

  PgConnection& conn_;
  Status poison_;
};

// True for the codes a statement returns without ending the transaction (txn.h).
bool IsRowLevel(const Status& s);

}  // namespace escrow::storage
