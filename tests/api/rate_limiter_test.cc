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


TEST_CASE("RateLimiter tracks at most its capacity of keys, forgetting the oldest window first",
          "[api][limits]") {
  RateLimiter limiter(vault::RateLimit{2, seconds(60)}, 100);
  const auto t0 = std::chrono::steady_clock::now();
  // A key over its limit, then a flood of new keys within the same window.
  CHECK(limiter.Hit("victim", t0).allowed);
  CHECK(limiter.Hit("victim", t0).allowed);
  CHECK_FALSE(limiter.Hit("victim", t0).allowed);
  for (int i = 0; i < 10000; ++i) {
    REQUIRE(limiter.Hit("token-" + std::to_string(i), t0 + std::chrono::milliseconds(1)).allowed);
    REQUIRE(limiter.size() <= 100);
  }
  CHECK(limiter.size() == 100);
  // Each flooded key keeps its own count within the window.
  CHECK(limiter.Hit("token-9999", t0 + seconds(1)).allowed);
  CHECK_FALSE(limiter.Hit("token-9999", t0 + seconds(1)).allowed);
}

TEST_CASE("RateLimiter forgets keys whose window ended more than a window ago",
          "[api][limits]") {
  RateLimiter limiter(vault::RateLimit{5, seconds(10)});
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 1000; ++i) (void)limiter.Hit("k" + std::to_string(i), t0);
  CHECK(limiter.size() == 1000);
  (void)limiter.Hit("late", t0 + seconds(20));
  CHECK(limiter.size() == 1);
}

TEST_CASE("RateLimiter reports a window's first hit and the count of the window before it",
          "[api][limits]") {
  RateLimiter limiter(vault::RateLimit{1, seconds(60)});
  const auto t0 = std::chrono::steady_clock::now();
  LimitDecision d = limiter.Hit("alice", t0);
  CHECK(d.first_hit);
  CHECK(d.previous_count == 0);
  for (int i = 0; i < 6; ++i) CHECK_FALSE(limiter.Hit("alice", t0 + seconds(1)).first_hit);
  d = limiter.Hit("alice", t0 + seconds(61));
  CHECK(d.first_hit);
  CHECK(d.previous_count == 7);
  SECTION("a window that ended long ago carries nothing") {
    d = limiter.Hit("alice", t0 + seconds(400));
    CHECK(d.first_hit);
    CHECK(d.previous_count == 0);
  }
}

TEST_CASE("RateLimiter::Peek says whether a key's window is used up, counting nothing",
          "[api][limits][cms]") {
  RateLimiter limiter(vault::RateLimit{2, seconds(60)});
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(limiter.Peek("mdm", t0).allowed);
  CHECK(limiter.Hit("mdm", t0).allowed);
  CHECK(limiter.Peek("mdm", t0 + seconds(1)).allowed);
  CHECK(limiter.Peek("mdm", t0 + seconds(1)).allowed);  // peeking never counts
  CHECK(limiter.Hit("mdm", t0 + seconds(2)).allowed);
  LimitDecision d = limiter.Peek("mdm", t0 + seconds(20));
  CHECK_FALSE(d.allowed);
  CHECK_FALSE(d.first_denial);
  CHECK(d.retry_after_seconds == 40);
  CHECK(limiter.Peek("other", t0 + seconds(20)).allowed);
  CHECK(limiter.Peek("mdm", t0 + seconds(60)).allowed);  // the window ended
  CHECK(RateLimiter(vault::RateLimit{0, seconds(60)}).Peek("mdm").allowed);
}

}  // namespace
}  // namespace escrow::api
