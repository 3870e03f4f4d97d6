#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "base/result.h"
#include "storage/pg_connection.h"

namespace escrow::storage {

// At most `size` PostgreSQL connections, each lent to one caller at a time (private to
// storage/). A connection given back broken, or still inside a transaction, is closed and a
// fresh one opened at the next Borrow, so that the pool recovers after the server restarts.
// Thread-safe.
class PgConnectionPool {
 public:
  using Opener = std::function<Result<std::unique_ptr<PgConnection>>()>;

  PgConnectionPool(int size, Opener opener) : size_(size), opener_(std::move(opener)) {}
  PgConnectionPool(const PgConnectionPool&) = delete;  // leases point back to it
  PgConnectionPool& operator=(const PgConnectionPool&) = delete;
  PgConnectionPool(PgConnectionPool&&) = delete;
  PgConnectionPool& operator=(PgConnectionPool&&) = delete;
  ~PgConnectionPool() = default;  // REQUIRES: no lease outstanding

  // One borrowed connection, given back on destruction.
  class Lease {
   public:
    Lease(PgConnectionPool* pool, std::unique_ptr<PgConnection> conn)
        : pool_(pool), conn_(std::move(conn)) {}
    Lease(Lease&& other) noexcept = default;
    Lease& operator=(Lease&&) = delete;
    Lease(const Lease&) = delete;  // one connection, one borrower
    Lease& operator=(const Lease&) = delete;
    ~Lease() {
      if (conn_ != nullptr) pool_->GiveBack(std::move(conn_));
    }
    PgConnection& operator*() const { return *conn_; }
    PgConnection* operator->() const { return conn_.get(); }

   private:
    PgConnectionPool* pool_;
    std::unique_ptr<PgConnection> conn_;
  };

  // Waits until a connection is free; opens one if fewer than `size` exist. kUnavailable
  // (as PgConnection::Open) if a new connection cannot be opened.
  Result<Lease> Borrow();

 private:
  void GiveBack(std::unique_ptr<PgConnection> conn);

  const int size_;
  const Opener opener_;
  std::mutex mu_;
  std::condition_variable freed_;
  std::vector<std::unique_ptr<PgConnection>> idle_;  // guarded by mu_
  int open_ = 0;                                     // idle or lent; guarded by mu_
};

}  // namespace escrow::storage
