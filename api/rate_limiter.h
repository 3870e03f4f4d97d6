#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "vault/config.h"

namespace escrow::api {

// What one hit on a limit decided.
struct LimitDecision {
  bool allowed = true;
  std::int64_t retry_after_seconds = 0;  // when denied: until the window ends (>= 1)
  bool first_denial = false;  // the first denial of this key in this window: audit it
  std::int64_t count = 0;     // hits in this window, this one included
};

// Fixed-window counters in memory, one per key (a user, a client, a client and token hash).
// A limit with count 0 allows everything. Windows start at a key's first hit; idle keys are
// swept once they grow many. Thread-safe.
class RateLimiter {
 public:
  using SteadyTime = std::chrono::steady_clock::time_point;

  explicit RateLimiter(vault::RateLimit limit) : limit_(limit) {}
  RateLimiter(const RateLimiter&) = delete;  // owns the counters behind a mutex
  RateLimiter& operator=(const RateLimiter&) = delete;

  // Counts one event for `key` at `now` and says whether it is within the limit.
  LimitDecision Hit(std::string_view key, SteadyTime now = std::chrono::steady_clock::now());

  const vault::RateLimit& limit() const { return limit_; }

 private:
  struct Window {
    SteadyTime start;
    std::int64_t count = 0;
  };
  void SweepLocked(SteadyTime now);

  const vault::RateLimit limit_;
  std::mutex mu_;
  std::unordered_map<std::string, Window> windows_;
};

}  // namespace escrow::api
