#include "tools/notify_backoff.h"

#include <set>

#include <catch2/catch.hpp>

namespace escrow::tools {
namespace {

using std::chrono::milliseconds;

TEST_CASE("Backoff doubles from the initial delay with jitter and stays under the cap",
          "[tools][notify]") {
  for (std::uint64_t seed = 1; seed <= 50; ++seed) {
    Backoff b(milliseconds(1000), milliseconds(3'600'000), seed);
    std::int64_t expected = 1000;
    for (int i = 0; i < 100; ++i) {
      const std::int64_t d = b.Next().count();
      INFO("seed " << seed << " attempt " << i);
      CHECK(d <= expected);
      CHECK(d >= expected - expected / 4);
      expected = std::min<std::int64_t>(expected * 2, 3'600'000);
    }
  }
}

TEST_CASE("Backoff never gives up and never overflows however long it runs", "[tools][notify]") {
  Backoff b(milliseconds(10), milliseconds(3'600'000), 7);
  for (int i = 0; i < 100000; ++i) {
    const milliseconds d = b.Next();
    REQUIRE(d.count() > 0);
    REQUIRE(d <= milliseconds(3'600'000));
  }
  CHECK(b.Next() >= milliseconds(2'700'000));
  b.Reset();
  CHECK(b.attempt() == 0);
  CHECK(b.Next() <= milliseconds(10));
}

TEST_CASE("Backoff jitters: two relays do not retry in step", "[tools][notify]") {
  std::set<std::int64_t> firsts;
  for (std::uint64_t seed = 0; seed < 20; ++seed) {
    Backoff b(milliseconds(1000), milliseconds(3'600'000), seed);
    (void)b.Next();
    firsts.insert(b.Next().count());
  }
  CHECK(firsts.size() > 10);
}

}  // namespace
}  // namespace escrow::tools
