#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "base/result.h"
#include "storage/database.h"

namespace escrow::storage {

// A fixed number of read connections, each lent to one caller at a time. A connection
// returned broken (I/O error, corruption) is dropped and a fresh one opened on demand.
// Thread-safe.
class ConnectionPool {
 public:
  using Opener = std::function<Result<std::unique_ptr<Database>>()>;

  // Opens all `size` connections now, so that a bad file fails at open, not at first read.
  static Result<std::unique_ptr<ConnectionPool>> Create(int size, Opener opener);

  ConnectionPool(const ConnectionPool&) = delete;  // leases point back to it
  ConnectionPool& operator=(const ConnectionPool&) = delete;
  ConnectionPool(ConnectionPool&&) = delete;
  ConnectionPool& operator=(ConnectionPool&&) = delete;
  ~ConnectionPool();  // REQUIRES: no lease outstanding

  // One borrowed connection, given back on destruction.
  class Lease {
   public:
    Lease(ConnectionPool* pool, std::unique_ptr<Database> db) : pool_(pool), db_(std::move(db)) {}
    Lease(Lease&& other) noexcept = default;
    Lease& operator=(Lease&&) = delete;
    Lease(const Lease&) = delete;  // one connection, one borrower
    Lease& operator=(const Lease&) = delete;
    ~Lease() {
      if (db_ != nullptr) pool_->GiveBack(std::move(db_));
    }
    Database& operator*() const { return *db_; }
    Database* operator->() const { return db_.get(); }

   private:
    ConnectionPool* pool_;
    std::unique_ptr<Database> db_;
  };

  // Waits until a connection is free. kUnavailable (or as Database::Open) if a replacement
  // for a dropped connection cannot be opened.
  Result<Lease> Borrow();

  int size() const { return size_; }

 private:
  ConnectionPool(int size, Opener opener) : size_(size), opener_(std::move(opener)) {}
  void GiveBack(std::unique_ptr<Database> db);

  const int size_;
  const Opener opener_;
  std::mutex mu_;
  std::condition_variable freed_;
  std::vector<std::unique_ptr<Database>> idle_;  // guarded by mu_
  int missing_ = 0;                              // dropped, to reopen; guarded by mu_
};

}  // namespace escrow::storage
