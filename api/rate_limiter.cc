#include "api/rate_limiter.h"

namespace escrow::api {
namespace {
constexpr std::size_t kSweepAbove = 10000;
}

LimitDecision RateLimiter::Hit(std::string_view key, SteadyTime now) {
  LimitDecision d;
  if (!limit_.enabled()) return d;
  const auto window = std::chrono::duration_cast<std::chrono::steady_clock::duration>(limit_.window);
  std::lock_guard lock(mu_);
  if (windows_.size() > kSweepAbove) SweepLocked(now);
  Window& w = windows_[std::string(key)];
  if (w.count == 0 || now - w.start >= window) {
    w.start = now;
    w.count = 0;
  }
  ++w.count;
  d.count = w.count;
  if (w.count <= limit_.count) return d;
  d.allowed = false;
  d.first_denial = w.count == limit_.count + 1;
  auto left = std::chrono::ceil<std::chrono::seconds>(w.start + window - now).count();
  d.retry_after_seconds = left < 1 ? 1 : left;
  return d;
}

void RateLimiter::SweepLocked(SteadyTime now) {
  const auto window = std::chrono::duration_cast<std::chrono::steady_clock::duration>(limit_.window);
  std::erase_if(windows_, [&](const auto& kv) { return now - kv.second.start >= window; });
}

}  // namespace escrow::api
