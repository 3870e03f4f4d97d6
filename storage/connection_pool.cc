#include "storage/connection_pool.h"

#include <utility>

namespace escrow::storage {

Result<std::unique_ptr<ConnectionPool>> ConnectionPool::Create(int size, Opener opener) {
  std::unique_ptr<ConnectionPool> pool(new ConnectionPool(size, std::move(opener)));
  for (int i = 0; i < size; ++i) {
    ESCROW_ASSIGN_OR_RETURN(std::unique_ptr<Database> db, pool->opener_());
    pool->idle_.push_back(std::move(db));
  }
  return pool;
}

ConnectionPool::~ConnectionPool() = default;

Result<ConnectionPool::Lease> ConnectionPool::Borrow() {
  {
    std::unique_lock lock(mu_);
    freed_.wait(lock, [this] { return !idle_.empty() || missing_ > 0; });
    if (!idle_.empty()) {
      std::unique_ptr<Database> db = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(db));
    }
    --missing_;
  }
  // Open outside the lock: it touches the disk.
  Result<std::unique_ptr<Database>> db = opener_();
  if (!db.ok()) {
    {
      std::lock_guard lock(mu_);
      ++missing_;
    }
    freed_.notify_one();
    return db.status();
  }
  return Lease(this, std::move(db).value());
}

void ConnectionPool::GiveBack(std::unique_ptr<Database> db) {
  {
    std::lock_guard lock(mu_);
    if (db->broken()) {
      ++missing_;
    } else {
      idle_.push_back(std::move(db));
    }
  }
  // A broken connection is closed here, outside the lock.
  db.reset();
  freed_.notify_one();
}

}  // namespace escrow::storage
