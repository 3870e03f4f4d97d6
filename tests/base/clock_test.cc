#include "base/clock.h"

#include <catch2/catch.hpp>

namespace escrow {
namespace {

TEST_CASE("RFC 3339 round trip in UTC", "[base][clock]") {
  TimePoint t = FromUnixSeconds(1795000000);
  std::string s = FormatRfc3339(t);
  CHECK(s == "2026-11-18T11:06:40Z");
  REQUIRE(ParseRfc3339(s).has_value());
  CHECK(*ParseRfc3339(s) == t);
}

TEST_CASE("RFC 3339 parsing accepts offsets and fractions, rejects junk", "[base][clock]") {
  CHECK(ToUnixSeconds(*ParseRfc3339("2026-11-18T12:06:40+01:00")) == 1795000000);
  CHECK(ToUnixSeconds(*ParseRfc3339("2026-11-18T11:06:40.123Z")) == 1795000000);
  for (const char* bad : {"", "2026-11-18", "2026-11-18T11:06:40", "2026-13-18T09:46:40Z",
                          "2026-11-18T11:06:40Zjunk", "2026-11-18 09:46:40Z", "x026-11-18T09:46:40Z",
                          "2026-11-18T11:06:40.Z", "2026-11-18T11:06:40+0100"}) {
    INFO(bad);
    CHECK_FALSE(ParseRfc3339(bad).has_value());
  }
}

}  // namespace
}  // namespace escrow
