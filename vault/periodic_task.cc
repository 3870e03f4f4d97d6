#include "vault/periodic_task.h"

#include <utility>

namespace escrow::vault {

PeriodicTask::PeriodicTask(std::function<void()> task, std::chrono::milliseconds interval)
    : task_(std::move(task)), interval_(interval), thread_([this] { Loop(); }) {}

PeriodicTask::~PeriodicTask() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void PeriodicTask::Loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    lock.unlock();
    task_();
    lock.lock();
    cv_.wait_for(lock, interval_, [this] { return stopping_; });
  }
}

}  // namespace escrow::vault
