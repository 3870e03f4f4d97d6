#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "api/rate_limiter.h"

namespace escrow::api {

// The label of an HTTP method: the methods of RFC 9110 and PATCH by name, anything else
// "other", so that no label set grows with what a client sends.
std::string_view MethodLabel(std::string_view method);

// Request counters and latency histograms by route template and status, throttling counters
// and connection gauges, rendered as Prometheus text (version 0.0.4). Thread-safe.
class Metrics {
 public:
  static constexpr std::array<double, 12> kBuckets{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                   0.1,   0.25,   0.5,   1.0,  2.5,   5.0};

  // `method` is folded through MethodLabel; `route` must be a path template (or "unknown").
  void ObserveRequest(std::string_view method, std::string_view route, int status,
                      std::chrono::nanoseconds latency);
  void CountThrottled(std::string_view limit);
  void ConnectionOpened();
  void ConnectionClosed();
  void ConnectionRefused();
  void ConnectionRefusedPerAddress();
  // Reports how many keys each limiter tracks (vault_rate_limit_keys); the limiters must
  // outlive every Render().
  void TrackLimiters(std::vector<std::pair<std::string, const RateLimiter*>> limiters);

  std::string Render() const;

 private:
  struct Histogram {
    std::array<std::uint64_t, kBuckets.size()> buckets{};  // non-cumulative
    std::uint64_t count = 0;
    double sum = 0;
  };
  using Key = std::tuple<std::string_view, std::string, int>;  // method label, route, status

  mutable std::mutex mu_;
  // A request looks its histogram up by views, allocating only for a new label set. Both
  // sides compare as views: clang 14 cannot compare a tuple holding std::string with one
  // holding std::string_view (libstdc++ 12's tuple <=>), which std::less<> would need.
  using KeyView = std::tuple<std::string_view, std::string_view, int>;
  struct KeyLess {
    using is_transparent = void;
    static KeyView View(const Key& k) { return {std::get<0>(k), std::get<1>(k), std::get<2>(k)}; }
    static const KeyView& View(const KeyView& v) { return v; }
    template <class A, class B>
    bool operator()(const A& a, const B& b) const {
      return View(a) < View(b);
    }
  };
  std::map<Key, Histogram, KeyLess> requests_;
  std::map<std::string, std::uint64_t> throttled_;
  std::int64_t open_connections_ = 0;
  std::uint64_t connections_total_ = 0;
  std::uint64_t connections_refused_ = 0;
  std::uint64_t connections_refused_per_address_ = 0;
  std::vector<std::pair<std::string, const RateLimiter*>> limiters_;
};

}  // namespace escrow::api
