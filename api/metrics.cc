#include "api/metrics.h"

#include <array>
#include <cstdio>
#include <tuple>

namespace escrow::api {
namespace {

std::string Labels(std::string_view method, const std::string& route, int status) {
  return "method=\"" + std::string(method) + "\",route=\"" + route + "\",status=\"" +
         std::to_string(status) + "\"";
}

std::string Num(double v) {
  char buf[32];
  // "%.9g" of any double takes at most 16 characters, so it always fits: nothing to check.
  (void)std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

}  // namespace

std::string_view MethodLabel(std::string_view method) {
  static constexpr std::array<std::string_view, 9> kKnown{
      "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"};
  for (std::string_view m : kKnown) {
    if (m == method) return m;
  }
  return "other";
}

void Metrics::ObserveRequest(std::string_view method, std::string_view route, int status,
                             std::chrono::nanoseconds latency) {
  const double seconds = std::chrono::duration<double>(latency).count();
  std::lock_guard lock(mu_);
  const KeyView labels{MethodLabel(method), route, status};
  auto it = requests_.find(labels);
  if (it == requests_.end()) {
    it = requests_.emplace(Key{std::get<0>(labels), std::string(route), status}, Histogram{})
             .first;
  }
  Histogram& h = it->second;
  ++h.count;
  h.sum += seconds;
  for (std::size_t i = 0; i < kBuckets.size(); ++i) {
    if (seconds <= kBuckets[i]) {
      ++h.buckets[i];
      break;
    }
  }
}

void Metrics::CountThrottled(std::string_view limit) {
  std::lock_guard lock(mu_);
  ++throttled_[std::string(limit)];
}

void Metrics::ConnectionOpened() {
  std::lock_guard lock(mu_);
  ++open_connections_;
  ++connections_total_;
}

void Metrics::ConnectionClosed() {
  std::lock_guard lock(mu_);
  --open_connections_;
}

void Metrics::ConnectionRefused() {
  std::lock_guard lock(mu_);
  ++connections_refused_;
}

void Metrics::ConnectionRefusedPerAddress() {
  std::lock_guard lock(mu_);
  ++connections_refused_per_address_;
}

void Metrics::TrackLimiters(std::vector<std::pair<std::string, const RateLimiter*>> limiters) {
  std::lock_guard lock(mu_);
  limiters_ = std::move(limiters);
}

std::string Metrics::Render() const {
  std::lock_guard lock(mu_);
  std::string out;
  out += "# HELP vault_http_requests_total HTTP requests by method, route and status.\n";
  out += "# TYPE vault_http_requests_total counter\n";
  for (const auto& [key, h] : requests_) {
    const auto& [method, route, status] = key;
    out += "vault_http_requests_total{" + Labels(method, route, status) + "} " +
           std::to_string(h.count) + "\n";
  }
  out += "# HELP vault_http_request_duration_seconds HTTP request latency.\n";
  out += "# TYPE vault_http_request_duration_seconds histogram\n";
  for (const auto& [key, h] : requests_) {
    const auto& [method, route, status] = key;
    const std::string labels = Labels(method, route, status);
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < kBuckets.size(); ++i) {
      cumulative += h.buckets[i];
      out += "vault_http_request_duration_seconds_bucket{" + labels + ",le=\"" + Num(kBuckets[i]) +
             "\"} " + std::to_string(cumulative) + "\n";
    }
    out += "vault_http_request_duration_seconds_bucket{" + labels + ",le=\"+Inf\"} " +
           std::to_string(h.count) + "\n";
    out += "vault_http_request_duration_seconds_sum{" + labels + "} " + Num(h.sum) + "\n";
    out += "vault_http_request_duration_seconds_count{" + labels + "} " +
           std::to_string(h.count) + "\n";
  }
  out += "# HELP vault_throttled_requests_total Requests answered 429, by limit.\n";
  out += "# TYPE vault_throttled_requests_total counter\n";
  for (const auto& [limit, n] : throttled_) {
    out += "vault_throttled_requests_total{limit=\"" + limit + "\"} " + std::to_string(n) + "\n";
  }
  out += "# HELP vault_rate_limit_keys Keys each limit tracks now (bounded).\n";
  out += "# TYPE vault_rate_limit_keys gauge\n";
  for (const auto& [limit, limiter] : limiters_) {
    out += "vault_rate_limit_keys{limit=\"" + limit + "\"} " + std::to_string(limiter->size()) +
           "\n";
  }
  out += "# HELP vault_open_connections Open client connections.\n";
  out += "# TYPE vault_open_connections gauge\n";
  out += "vault_open_connections " + std::to_string(open_connections_) + "\n";
  out += "# HELP vault_connections_total Accepted connections.\n";
  out += "# TYPE vault_connections_total counter\n";
  out += "vault_connections_total " + std::to_string(connections_total_) + "\n";
  out += "# HELP vault_connections_refused_total Connections closed at the connection cap.\n";
  out += "# TYPE vault_connections_refused_total counter\n";
  out += "vault_connections_refused_total " + std::to_string(connections_refused_) + "\n";
  out += "# HELP vault_connections_refused_per_address_total Connections closed at the cap of "
         "connections without a mapped client certificate per address.\n";
  out += "# TYPE vault_connections_refused_per_address_total counter\n";
  out += "vault_connections_refused_per_address_total " +
         std::to_string(connections_refused_per_address_) + "\n";
  return out;
}

}  // namespace escrow::api
