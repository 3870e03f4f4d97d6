#include "bench/loadgen/stats.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <sstream>

namespace escrow::bench::loadgen {
namespace {

double Ms(std::uint32_t us) { return static_cast<double>(us) / 1000.0; }

// Nearest rank: the smallest value with at least q of the samples at or below it.
std::uint32_t Rank(const std::vector<std::uint32_t>& sorted, double q) {
  const auto n = static_cast<double>(sorted.size());
  auto idx = static_cast<std::size_t>(std::ceil(q * n));
  idx = std::clamp<std::size_t>(idx, 1, sorted.size());
  return sorted[idx - 1];
}

double Round(double v, double unit) { return std::round(v / unit) * unit; }

boost::json::object SummaryJson(const Summary& s) {
  boost::json::object o;
  o["p50_ms"] = Round(s.p50, 0.001);
  o["p95_ms"] = Round(s.p95, 0.001);
  o["p99_ms"] = Round(s.p99, 0.001);
  o["max_ms"] = Round(s.max, 0.001);
  o["mean_ms"] = Round(s.mean, 0.001);
  return o;
}

OpStats Total(const RunResult& r) {
  OpStats all;
  for (const OpStats& s : r.ops) all.Merge(s);
  return all;
}

}  // namespace

void OpStats::Record(int status, std::chrono::steady_clock::duration latency) {
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(latency).count();
  latency_us.push_back(static_cast<std::uint32_t>(std::clamp<std::int64_t>(us, 0, UINT32_MAX)));
  ++statuses[status];
  if (status < 200 || status > 299) ++errors;
}

void OpStats::Merge(const OpStats& other) {
  latency_us.insert(latency_us.end(), other.latency_us.begin(), other.latency_us.end());
  for (const auto& [status, n] : other.statuses) statuses[status] += n;
  errors += other.errors;
}

Summary Summarise(std::vector<std::uint32_t> v) {
  Summary s;
  s.count = v.size();
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  s.p50 = Ms(Rank(v, 0.50));
  s.p95 = Ms(Rank(v, 0.95));
  s.p99 = Ms(Rank(v, 0.99));
  s.max = Ms(v.back());
  const double sum =
      std::accumulate(v.begin(), v.end(), 0.0, [](double a, std::uint32_t b) { return a + b; });
  s.mean = sum / static_cast<double>(v.size()) / 1000.0;
  return s;
}

boost::json::object ToJson(const RunResult& r) {
  boost::json::object o;
  o["label"] = r.label;
  o["connections"] = r.connections;
  o["mix"] = r.mix;
  o["elapsed_s"] = Round(r.elapsed_s, 0.001);
  const OpStats all = Total(r);
  const auto total = static_cast<double>(all.latency_us.size());
  o["requests"] = all.latency_us.size();
  o["errors"] = all.errors;
  o["requests_per_s"] = r.elapsed_s > 0 ? Round(total / r.elapsed_s, 0.1) : 0.0;
  o["latency"] = SummaryJson(Summarise(all.latency_us));
  boost::json::object ops;
  for (std::size_t i = 0; i < r.ops.size(); ++i) {
    const OpStats& s = r.ops[i];
    if (s.latency_us.empty()) continue;
    boost::json::object op = SummaryJson(Summarise(s.latency_us));
    op["requests"] = s.latency_us.size();
    op["errors"] = s.errors;
    op["requests_per_s"] =
        r.elapsed_s > 0 ? Round(static_cast<double>(s.latency_us.size()) / r.elapsed_s, 0.1) : 0.0;
    boost::json::object statuses;
    for (const auto& [status, n] : s.statuses) {
      statuses[status == kTransportError ? "transport" : std::to_string(status)] = n;
    }
    op["statuses"] = std::move(statuses);
    ops[OpName(static_cast<Op>(i))] = std::move(op);
  }
  o["ops"] = std::move(ops);
  boost::json::object res;
  res["cores"] = r.cores;
  if (r.resources.server_cpu_s >= 0) {
    res["server_cpu_s"] = Round(r.resources.server_cpu_s, 0.001);
    if (total > 0) res["server_cpu_ms_per_request"] = r.resources.server_cpu_s * 1000.0 / total;
  }
  if (r.resources.client_cpu_s >= 0) {
    res["client_cpu_s"] = Round(r.resources.client_cpu_s, 0.001);
    if (total > 0) res["client_cpu_ms_per_request"] = r.resources.client_cpu_s * 1000.0 / total;
  }
  if (r.resources.disk_flushes >= 0 && r.elapsed_s > 0) {
    res["disk_flushes"] = r.resources.disk_flushes;
    res["disk_flushes_per_s"] = Round(r.resources.disk_flushes / r.elapsed_s, 0.1);
  }
  o["resources"] = std::move(res);
  if (r.envelopes.made > 0) {
    boost::json::object pool;
    pool["made"] = r.envelopes.made;
    pool["used"] = r.envelopes.used;
    pool["make_s"] = Round(r.envelopes.make_s, 0.001);
    pool["ran_out"] = r.envelopes.ran_out;
    o["cms_envelopes"] = std::move(pool);
  }
  return o;
}

std::string ToTable(const RunResult& r) {
  std::ostringstream out;
  char line[256];
  // (void): a line cut at the buffer's end is still a line; there is nothing to handle.
  (void)std::snprintf(line, sizeof line, "%-10s %9s %10s %9s %9s %9s %8s\n", "op", "requests",
                      "req/s", "p50 ms", "p95 ms", "p99 ms", "errors");
  out << "# " << (r.label.empty() ? "run" : r.label) << ": " << r.mix << ", " << r.connections
      << " connection(s), " << r.elapsed_s << " s measured\n"
      << line;
  auto row = [&](std::string_view name, const OpStats& s) {
    const Summary m = Summarise(s.latency_us);
    const double rps = r.elapsed_s > 0 ? static_cast<double>(m.count) / r.elapsed_s : 0.0;
    (void)std::snprintf(line, sizeof line, "%-10.*s %9llu %10.1f %9.2f %9.2f %9.2f %8llu\n",
                        static_cast<int>(name.size()), name.data(),
                        static_cast<unsigned long long>(m.count), rps, m.p50, m.p95, m.p99,
                        static_cast<unsigned long long>(s.errors));
    out << line;
  };
  std::size_t kinds = 0;
  for (std::size_t i = 0; i < r.ops.size(); ++i) {
    if (r.ops[i].latency_us.empty()) continue;
    row(OpName(static_cast<Op>(i)), r.ops[i]);
    ++kinds;
  }
  const OpStats all = Total(r);
  if (kinds > 1) row("total", all);
  for (std::size_t i = 0; i < r.ops.size(); ++i) {
    for (const auto& [status, n] : r.ops[i].statuses) {
      if (status >= 200 && status <= 299) continue;
      out << "  " << OpName(static_cast<Op>(i)) << ": " << n << " x "
          << (status == kTransportError ? std::string("transport error") : std::to_string(status))
          << "\n";
    }
  }
  const auto total = static_cast<double>(all.latency_us.size());
  if (r.resources.server_cpu_s >= 0 && total > 0) {
    (void)std::snprintf(line, sizeof line, "server CPU %.3f ms/request",
                        r.resources.server_cpu_s * 1000.0 / total);
    out << line;
    if (r.resources.client_cpu_s >= 0) {
      (void)std::snprintf(line, sizeof line, ", load generator %.3f ms/request",
                          r.resources.client_cpu_s * 1000.0 / total);
      out << line;
    }
    out << "\n";
  }
  if (r.resources.disk_flushes >= 0 && r.elapsed_s > 0) {
    (void)std::snprintf(line, sizeof line, "disk flushes %.1f/s\n",
                        r.resources.disk_flushes / r.elapsed_s);
    out << line;
  }
  if (r.envelopes.made > 0) {
    (void)std::snprintf(line, sizeof line,
                        "CMS envelopes: %llu made in %.2f s before the run, %llu used%s\n",
                        static_cast<unsigned long long>(r.envelopes.made), r.envelopes.make_s,
                        static_cast<unsigned long long>(r.envelopes.used),
                        r.envelopes.ran_out ? "; RAN OUT, the run stopped early" : "");
    out << line;
  }
  return out.str();
}

}  // namespace escrow::bench::loadgen
