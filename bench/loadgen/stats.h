#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <boost/json/object.hpp>

#include "bench/loadgen/options.h"

namespace escrow::bench::loadgen {

// HTTP status recorded for a request that got no response (connect, TLS or I/O error).
inline constexpr int kTransportError = 0;

// What one worker saw for one kind of request. Not thread-safe: each worker owns its own and
// the engine merges them when the run is over.
struct OpStats {
  std::vector<std::uint32_t> latency_us;  // every recorded request, successful or not
  std::map<int, std::uint64_t> statuses;  // HTTP status (kTransportError) -> count
  std::uint64_t errors = 0;               // anything but 2xx

  void Record(int status, std::chrono::steady_clock::duration latency);
  void Merge(const OpStats& other);
};

// Latency summary in milliseconds (nearest-rank percentiles).
struct Summary {
  std::uint64_t count = 0;
  double p50 = 0, p95 = 0, p99 = 0, max = 0, mean = 0;
};
Summary Summarise(std::vector<std::uint32_t> latency_us);

// Resource use of the measured period (deltas), where known.
struct Resources {
  double server_cpu_s = -1;  // vaultd utime+stime; -1: not measured
  double client_cpu_s = -1;  // this process (user+system)
  double disk_flushes = -1;  // flush requests completed on the state's disk; -1: unknown
};

// store_cms's envelopes: made before the run, each used once.
struct EnvelopePool {
  std::uint64_t made = 0;  // 0: the mix has no store_cms
  std::uint64_t used = 0;
  double make_s = 0;       // time to fetch the certificate and make them (not measured load)
  bool ran_out = false;    // a request found none left: the run stopped there
};

// The result of one run: per-op statistics over the measured period.
struct RunResult {
  std::string label;
  std::uint32_t connections = 0;
  std::string mix;
  double elapsed_s = 0;  // measured period (after warm-up)
  std::array<OpStats, kOpCount> ops;
  Resources resources;
  std::uint32_t cores = 0;
  EnvelopePool envelopes;
};

boost::json::object ToJson(const RunResult& r);
std::string ToTable(const RunResult& r);

}  // namespace escrow::bench::loadgen
