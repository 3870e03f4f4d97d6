#pragma once

// The re-encryption progress of a master-key rotation, for the operator: a redrawn bar with
// rate and ETA on a terminal, plain lines otherwise (every 10% or 5 seconds), so that logs of
// a scheduled run stay readable. Not thread-safe; one per rotation.

#include <chrono>
#include <cstdint>
#include <ostream>

namespace escrow::ops {

class RotateProgress {
 public:
  // `out` may be null (no progress shown).
  RotateProgress(std::int64_t total, std::ostream* out, bool terminal)
      : total_(total), out_(out), tty_(terminal) {}
  RotateProgress(const RotateProgress&) = delete;  // one per rotation
  RotateProgress& operator=(const RotateProgress&) = delete;
  RotateProgress(RotateProgress&&) = delete;
  RotateProgress& operator=(RotateProgress&&) = delete;
  ~RotateProgress() = default;

  void Update(std::int64_t done, bool final = false);

 private:
  using SteadyClock = std::chrono::steady_clock;
  std::int64_t total_;
  std::ostream* out_;
  const bool tty_;
  const SteadyClock::time_point start_ = SteadyClock::now();
  SteadyClock::time_point last_{};
  int last_percent_ = -10;
};

}  // namespace escrow::ops
