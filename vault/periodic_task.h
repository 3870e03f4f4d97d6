#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace escrow::vault {

// Runs `task` on a thread of its own: once at once, then every `interval` after the previous
// run ended, until destroyed (the destructor wakes it and joins, waiting for a run under way).
class PeriodicTask {
 public:
  PeriodicTask(std::function<void()> task, std::chrono::milliseconds interval);
  PeriodicTask(const PeriodicTask&) = delete;  // owns a thread
  PeriodicTask& operator=(const PeriodicTask&) = delete;
  PeriodicTask(PeriodicTask&&) = delete;  // its thread holds its address
  PeriodicTask& operator=(PeriodicTask&&) = delete;
  ~PeriodicTask();

 private:
  void Loop();

  const std::function<void()> task_;
  const std::chrono::milliseconds interval_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;  // last: started once everything above is whole
};

}  // namespace escrow::vault
