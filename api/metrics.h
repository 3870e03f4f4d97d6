#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

namespace escrow::api {

// Request counters and latency histograms by route template and status, throttling counters
// and connection gauges, rendered as Prometheus text (version 0.0.4). Thread-safe.
class Metrics {
 public:
  static constexpr std::array<double, 12> kBuckets{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                   0.1,   0.25,   0.5,   1.0,  2.5,   5.0};

  void ObserveRequest(std::string_view method, std::string_view route, int status,
                      std::chrono::nanoseconds latency);
  void CountThrottled(std::string_view limit);
  void ConnectionOpened();
  void ConnectionClosed();
  void ConnectionRefused();

  std::string Render() const;

 private:
  struct Histogram {
    std::array<std::uint64_t, kBuckets.size()> buckets{};  // non-cumulative
    std::uint64_t count = 0;
    double sum = 0;
  };
  using Key = std::tuple<std::string, std::string, int>;  // method, route, status

  mutable std::mutex mu_;
  std::map<Key, Histogram> requests_;
  std::map<std::string, std::uint64_t> throttled_;
  std::int64_t open_connections_ = 0;
  std::uint64_t connections_total_ = 0;
  std::uint64_t connections_refused_ = 0;
};

}  // namespace escrow::api
