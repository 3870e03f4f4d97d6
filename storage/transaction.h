#pragma once

#include "base/result.h"

namespace escrow::storage {

class Database;

// BEGIN IMMEDIATE ... COMMIT on one connection: the write lock is taken at the start, so a
// busy database fails here (kUnavailable after the busy timeout), never halfway through.
// Or a read transaction, BEGIN (deferred) ... COMMIT: one snapshot for every read in it.
// Rolls back in its destructor unless Commit() succeeded. Move-only; not thread-safe.
class Transaction {
 public:
  // kUnavailable if the database is busy or read-only.
  static Result<Transaction> Begin(Database& db);
  // A read transaction (the snapshot is taken at its first read). kUnavailable as Begin.
  static Result<Transaction> BeginRead(Database& db);

  Transaction(Transaction&& other) noexcept;
  Transaction& operator=(Transaction&&) = delete;
  Transaction(const Transaction&) = delete;  // two owners would end it twice
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();  // ROLLBACK unless committed; a failure marks the connection broken

  // kUnavailable if the commit could not be made durable; the transaction then stays open
  // for the destructor (or Rollback) to undo.
  Status Commit();
  // Undoes everything; a no-op if SQLite already rolled back after an error.
  Status Rollback();

 private:
  explicit Transaction(Database* db) : db_(db) {}

  Database* db_;  // borrowed; nullptr once ended or moved from
};

// SAVEPOINT escrow_sp<depth> ... RELEASE, inside a Transaction; `depth` makes the name unique
// among the savepoints open at once. Rolls back to the savepoint and releases it in its
// destructor unless Release() succeeded.
class Savepoint {
 public:
  static Result<Savepoint> Begin(Database& db, int depth);

  Savepoint(Savepoint&& other) noexcept;
  Savepoint& operator=(Savepoint&&) = delete;
  Savepoint(const Savepoint&) = delete;  // two owners would end it twice
  Savepoint& operator=(const Savepoint&) = delete;
  ~Savepoint();

  // Keeps the changes made since Begin.
  Status Release();
  // Undoes the changes made since Begin, keeping the enclosing transaction.
  Status Rollback();

 private:
  Savepoint(Database* db, int depth) : db_(db), depth_(depth) {}

  Database* db_;  // borrowed; nullptr once ended or moved from
  int depth_;
};

}  // namespace escrow::storage
