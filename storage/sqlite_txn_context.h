#pragma once

#include <utility>

#include "base/result.h"

namespace escrow::storage {

class Database;

// The connection and the health of one open transaction, read or write (private to storage/),
// shared by the narrow stores that run their statements in it. An error that may have ended
// SQLite's transaction (busy, full, read-only, I/O, corrupt, or a connection that left its
// transaction) poisons it: every later call returns that error instead of running a statement
// in autocommit mode, and the transaction ends in failure even if its callback returned OK.
// Row-level errors (kAlreadyExists, kNotFound, kInvalidArgument, kFailedPrecondition) leave it
// usable. Not thread-safe: one per transaction.
class SqliteTxnContext {
 public:
  explicit SqliteTxnContext(Database& db) : db_(db) {}
  SqliteTxnContext(const SqliteTxnContext&) = delete;  // the stores point at this one
  SqliteTxnContext& operator=(const SqliteTxnContext&) = delete;
  SqliteTxnContext(SqliteTxnContext&&) = delete;
  SqliteTxnContext& operator=(SqliteTxnContext&&) = delete;
  ~SqliteTxnContext() = default;

  Database& db() { return db_; }
  // OK, or the first error that made the transaction unfit to go on.
  const Status& poison() const { return poison_; }

  // Runs `fn(db)` (returning a Status or a Result) unless the transaction is spent, and
  // records its error as the poison if that error may have ended the transaction.
  template <class Fn>
  auto Run(Fn&& fn) -> decltype(fn(std::declval<Database&>())) {
    if (!poison_.ok()) return poison_;
    auto result = fn(db_);
    if (!result.ok()) Track(StatusOf(result));
    return result;
  }

  // Records `s` as the poison if it may have ended the transaction.
  void Track(const Status& s);

 private:
  static const Status& StatusOf(const Status& s) { return s; }
  template <class T>
  static Status StatusOf(const Result<T>& r) {
    return r.status();
  }

  Database& db_;
  Status poison_;
};

}  // namespace escrow::storage
