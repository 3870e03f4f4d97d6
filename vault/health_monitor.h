#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "vault/escrow_service.h"

namespace escrow::vault {

// Keeps the newest answer of a health check, so that GET /v1/health never waits for the HSM
// or the database and an anonymous flood of it costs one check a second, whatever its rate.
// A thread of its own runs `check` every `interval`, and at once after Poke() (requests that
// met a failure poke it; pokes coalesce into one check). An answer older than three intervals
// (a check that hangs) is reported as unavailable. Thread-safe.
class HealthMonitor {
 public:
  using Check = std::function<HealthReport()>;
  HealthMonitor(Check check, std::chrono::milliseconds interval);
  HealthMonitor(const HealthMonitor&) = delete;  // owns a thread
  HealthMonitor& operator=(const HealthMonitor&) = delete;
  HealthMonitor(HealthMonitor&&) = delete;  // its thread holds its address
  HealthMonitor& operator=(HealthMonitor&&) = delete;
  ~HealthMonitor();  // stops and joins the thread

  // Runs the first check, then starts the thread.
  void Start();
  // The newest answer; never blocks on the check.
  HealthReport Current() const;
  // Asks the thread to check again now; returns at once.
  void Poke();
  // Runs the check now on the calling thread and keeps its answer.
  void Refresh();

 private:
  void Loop();

  const Check check_;
  const std::chrono::milliseconds interval_;
  std::mutex check_mu_;  // one check at a time
  mutable std::mutex mu_;
  std::condition_variable cv_;
  HealthReport current_;
  std::chrono::steady_clock::time_point checked_at_;
  bool poked_ = false;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace escrow::vault
