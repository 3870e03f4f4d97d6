#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace escrow {

using TimePoint = std::chrono::system_clock::time_point;

// The time source. Injected everywhere so tests can move time. Thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;
  static const Clock& System();

 protected:
  // Copied or moved only as a concrete clock, never sliced through this interface.
  Clock() = default;
  Clock(const Clock&) = default;
  Clock& operator=(const Clock&) = default;
  Clock(Clock&&) = default;
  Clock& operator=(Clock&&) = default;
};

// Unix seconds <-> time points, and RFC 3339 UTC ("2026-11-22T10:00:00Z").
std::int64_t ToUnixSeconds(TimePoint t);
std::int64_t ToUnixMillis(TimePoint t);
TimePoint FromUnixSeconds(std::int64_t s);
TimePoint FromUnixMillis(std::int64_t ms);
std::string FormatRfc3339(TimePoint t);
// Accepts "YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)"; nullopt on anything else.
std::optional<TimePoint> ParseRfc3339(std::string_view text);

}  // namespace escrow
