#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <list>
#include <mutex>
#include <string_view>
#include <unordered_map>

#include "vault/config.h"

namespace escrow::api {

// What one hit on a limit decided.
struct LimitDecision {
  bool allowed = true;
  std::int64_t retry_after_seconds = 0;  // when denied: until the window ends (>= 1)
  bool first_denial = false;  // the first denial of this key in this window: audit it
  bool first_hit = false;     // the first hit of this key in this window
  std::int64_t count = 0;     // hits in this window, this one included
  // On a window's first hit: the hits of the key's window just before it, if that window
  // ended less than one window ago (0 otherwise).
  std::int64_t previous_count = 0;
};

// Fixed-window counters in memory, one per key (a user, a client, a client and token hash).
// A limit with count 0 allows everything. Windows start at a key's first hit.
//
// Bounded whatever clients send: keys are kept as 128-bit prefixes of SHA-256(salt | key), the
// salt random per limiter (fixed size, and no collisions chosen offline to turn a lookup into
// a scan), at most `capacity` of them, in the order their
// windows started. Each hit drops the keys whose window ended more than a window ago and,
// when full, the key whose window started first (its count starts again: a flood of new keys
// can reset an old key's window, never extend one's allowance within it). O(1) amortised per
// hit. Thread-safe.
class RateLimiter {
 public:
  using SteadyTime = std::chrono::steady_clock::time_point;
  static constexpr std::size_t kDefaultCapacity = 65536;

  explicit RateLimiter(vault::RateLimit limit, std::size_t capacity = kDefaultCapacity);
  RateLimiter(const RateLimiter&) = delete;  // owns the counters behind a mutex
  RateLimiter& operator=(const RateLimiter&) = delete;
  RateLimiter(RateLimiter&&) = delete;  // the mutex cannot move
  RateLimiter& operator=(RateLimiter&&) = delete;
  ~RateLimiter() = default;

  // Counts one event for `key` at `now` and says whether it is within the limit.
  LimitDecision Hit(std::string_view key, SteadyTime now = std::chrono::steady_clock::now());
  // Whether `key` has used up its window at `now` (its hits so far reach the count), without
  // counting anything: for limits that count failures after the fact but refuse before the
  // work (cms_failures). allowed false: retry_after_seconds set, first_denial never.
  LimitDecision Peek(std::string_view key,
                     SteadyTime now = std::chrono::steady_clock::now()) const;

  const vault::RateLimit& limit() const { return limit_; }
  // Keys held now (for tests and metrics).
  std::size_t size() const;

 private:
  using Digest = std::array<std::uint8_t, 16>;
  struct DigestHash {
    std::size_t operator()(const Digest& d) const noexcept {
      std::size_t h = 0;
      std::memcpy(&h, d.data(), sizeof h);
      return h;
    }
  };
  struct Window {
    Digest key{};
    SteadyTime start;
    std::int64_t count = 0;
  };
  using Order = std::list<Window>;  // oldest window start first
  Digest DigestOf(std::string_view key) const;

  const vault::RateLimit limit_;
  const std::size_t capacity_;
  std::array<std::uint8_t, 32> salt_{};
  mutable std::mutex mu_;
  Order order_;
  std::unordered_map<Digest, Order::iterator, DigestHash> index_;
};

}  // namespace escrow::api
