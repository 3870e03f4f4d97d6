#include "api/rate_limiter.h"

#include <catch2/catch.hpp>

namespace escrow::api {
namespace {

using std::chrono::seconds;

TEST_CASE("RateLimiter allows count hits per window, then denies until it ends", "[api][limits]") {
  RateLimiter limiter(vault::RateLimit{3, seconds(60)});
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 3; ++i) CHECK(limiter.Hit("alice", t0 + seconds(i)).allowed);
  LimitDecision d = limiter.Hit("alice", t0 + seconds(10));
  CHECK_FALSE(d.allowed);
  CHECK(d.first_denial);
  CHECK(d.retry_after_seconds == 50);
  CHECK(d.count == 4);
  d = limiter.Hit("alice", t0 + seconds(59));
  CHECK_FALSE(d.allowed);
  CHECK_FALSE(d.first_denial);  // audited once per window
  CHECK(d.retry_after_seconds == 1);
  SECTION("a new window starts fresh") {
    d = limiter.Hit("alice", t0 + seconds(60));
    CHECK(d.allowed);
    CHECK(d.count == 1);
  }
  SECTION("keys are independent") { CHECK(limiter.Hit("bob", t0 + seconds(11)).allowed); }
}

TEST_CASE("RateLimiter with count 0 is switched off", "[api][limits]") {
  RateLimiter limiter(vault::RateLimit{0, seconds(60)});
  for (int i = 0; i < 1000; ++i) REQUIRE(limiter.Hit("k").allowed);
}

TEST_CASE("RateLimiter's first denial of a new window is audited again", "[api][limits]") {
  RateLimiter limiter(vault::RateLimit{1, seconds(10)});
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(limiter.Hit("k", t0).allowed);
  CHECK(limiter.Hit("k", t0).first_denial);
  CHECK(limiter.Hit("k", t0 + seconds(10)).allowed);
  CHECK(limiter.Hit("k", t0 + seconds(11)).first_denial);
}

}  // namespace
}  // namespace escrow::api
