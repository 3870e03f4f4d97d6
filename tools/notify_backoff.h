#pragma once

#include <chrono>
#include <cstdint>
#include <random>

namespace escrow::tools {

// Exponential backoff with jitter for the relay's retries, never giving up: the n-th delay
// (n from 0) is drawn uniformly from [3/4 * b, b] where b = min(max, initial * 2^n), so it
// starts near `initial` (1 s by default) and stays within the cap (one hour by default)
// forever; the jitter keeps a fleet of relays from retrying in step. Reset() after a success.
// Not thread-safe.
class Backoff {
 public:
  // REQUIRES: 0 < initial <= max.
  Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max,
          std::uint64_t seed = std::random_device{}());

  std::chrono::milliseconds Next();
  void Reset() { attempt_ = 0; }
  std::uint32_t attempt() const { return attempt_; }

 private:
  std::chrono::milliseconds initial_;
  std::chrono::milliseconds max_;
  std::uint32_t attempt_ = 0;
  std::mt19937_64 rng_;
};

}  // namespace escrow::tools
