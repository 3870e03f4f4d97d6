#include "tools/notify_backoff.h"

#include <algorithm>

#include "base/check.h"

namespace escrow::tools {

Backoff::Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max,
                 std::uint64_t seed)
    : initial_(initial), max_(max), rng_(seed) {
  ESCROW_CHECK(initial.count() > 0 && initial <= max);
}

std::chrono::milliseconds Backoff::Next() {
  // Doubling past 2^40 cannot matter (the cap is reached long before); stop counting there so
  // the shift never overflows however long the receiver stays down.
  const std::int64_t factor = std::int64_t{1} << std::min<std::uint32_t>(attempt_, 40);
  const std::int64_t cap = max_.count();
  const std::int64_t base = initial_.count() > cap / factor ? cap : initial_.count() * factor;
  if (attempt_ < 40) ++attempt_;
  std::uniform_int_distribution<std::int64_t> pick(base - base / 4, base);
  return std::chrono::milliseconds(pick(rng_));
}

}  // namespace escrow::tools
