#include "storage/pg_connection_pool.h"

#include <utility>

namespace escrow::storage {

Result<PgConnectionPool::Lease> PgConnectionPool::Borrow() {
  {
    std::unique_lock lock(mu_);
    freed_.wait(lock, [this] { return !idle_.empty() || open_ < size_; });
    if (!idle_.empty()) {
      std::unique_ptr<PgConnection> conn = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(conn));
    }
    ++open_;
  }
  // Connect outside the lock: it waits on the network.
  Result<std::unique_ptr<PgConnection>> conn = opener_();
  if (!conn.ok()) {
    {
      std::lock_guard lock(mu_);
      --open_;
    }
    freed_.notify_one();
    return conn.status();
  }
  return Lease(this, std::move(conn).value());
}

void PgConnectionPool::GiveBack(std::unique_ptr<PgConnection> conn) {
  const bool drop = conn->broken() || conn->in_transaction();
  {
    std::lock_guard lock(mu_);
    if (drop) {
      --open_;
    } else {
      idle_.push_back(std::move(conn));
    }
  }
  conn.reset();  // a dropped connection closes here, outside the lock
  freed_.notify_one();
}

}  // namespace escrow::storage
