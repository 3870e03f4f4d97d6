#include "vault/health_monitor.h"

#include <utility>

namespace escrow::vault {

HealthMonitor::HealthMonitor(Check check, std::chrono::milliseconds interval)
    : check_(std::move(check)), interval_(interval) {}

HealthMonitor::~HealthMonitor() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void HealthMonitor::Start() {
  Refresh();
  thread_ = std::thread([this] { Loop(); });
}

HealthReport HealthMonitor::Current() const {
  std::lock_guard lock(mu_);
  if (std::chrono::steady_clock::now() - checked_at_ > 3 * interval_) {
    HealthReport stale;
    stale.ok = false;
    stale.hsm = "unknown";
    stale.database = "unknown";
    return stale;
  }
  return current_;
}

void HealthMonitor::Poke() {
  {
    std::lock_guard lock(mu_);
    poked_ = true;
  }
  cv_.notify_all();
}

void HealthMonitor::Refresh() {
  std::lock_guard one(check_mu_);
  HealthReport report = check_();
  std::lock_guard lock(mu_);
  current_ = std::move(report);
  checked_at_ = std::chrono::steady_clock::now();
}

void HealthMonitor::Loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, interval_, [this] { return stopping_ || poked_; });
    if (stopping_) break;
    poked_ = false;
    lock.unlock();
    Refresh();
    lock.lock();
  }
}

}  // namespace escrow::vault
