#include "api/metrics.h"

#include <catch2/catch.hpp>

namespace escrow::api {
namespace {

TEST_CASE("Metrics renders request counts and latency histograms as Prometheus text",
          "[api][metrics]") {
  Metrics m;
  m.ObserveRequest("GET", "/v1/devices/{id}", 200, std::chrono::milliseconds(3));
  m.ObserveRequest("GET", "/v1/devices/{id}", 200, std::chrono::milliseconds(30));
  m.ObserveRequest("GET", "/v1/devices/{id}", 404, std::chrono::milliseconds(1));
  m.CountThrottled("retrieve_per_user");
  m.ConnectionOpened();
  const std::string text = m.Render();
  CHECK_THAT(text, Catch::Contains("# TYPE vault_http_requests_total counter"));
  CHECK_THAT(text, Catch::Contains(
                       R"(vault_http_requests_total{method="GET",route="/v1/devices/{id}",status="200"} 2)"));
  CHECK_THAT(text, Catch::Contains(
                       R"(vault_http_requests_total{method="GET",route="/v1/devices/{id}",status="404"} 1)"));
  CHECK_THAT(text, Catch::Contains("# TYPE vault_http_request_duration_seconds histogram"));
  // Buckets are cumulative: 3 ms is under 5 ms; 30 ms is under 50 ms.
  CHECK_THAT(text, Catch::Contains(
                       R"(status="200",le="0.005"} 1)"));
  CHECK_THAT(text, Catch::Contains(
                       R"(status="200",le="0.05"} 2)"));
  CHECK_THAT(text, Catch::Contains(
                       R"(status="200",le="+Inf"} 2)"));
  CHECK_THAT(text, Catch::Contains(R"(vault_throttled_requests_total{limit="retrieve_per_user"} 1)"));
  CHECK_THAT(text, Catch::Contains("vault_open_connections 1"));
  CHECK(text.back() == '\n');
}


TEST_CASE("Metrics folds methods it does not know into one label", "[api][metrics]") {
  CHECK(MethodLabel("GET") == "GET");
  CHECK(MethodLabel("PATCH") == "PATCH");
  CHECK(MethodLabel("get") == "other");
  CHECK(MethodLabel(std::string(8000, 'X')) == "other");
  Metrics m;
  m.ObserveRequest("GET", "/v1/health", 200, std::chrono::milliseconds(1));
  const std::size_t before = m.Render().size();
  for (int i = 0; i < 5000; ++i) {
    m.ObserveRequest("M" + std::to_string(i) + std::string(200, 'A'), "unknown", 401,
                     std::chrono::milliseconds(1));
  }
  const std::string text = m.Render();
  CHECK_THAT(text, Catch::Contains(
                       R"(vault_http_requests_total{method="other",route="unknown",status="401"} 5000)"));
  CHECK(text.find("AAAA") == std::string::npos);
  // One more label set (other/unknown/401), whatever was sent.
  CHECK(text.size() < before + 4096);
}

}  // namespace
}  // namespace escrow::api
