// GET /v1/devices pages (API.md, second release): ?after=ID&limit=N, answered with
// {"devices": [...], "next_after": ID or null}, through the real vaultd over HTTPS.
#include <optional>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "tests/e2e/e2e_util.h"

namespace escrow::e2e {
namespace {

using Ids = std::vector<std::string>;

struct Page {
  Ids ids;
  std::optional<std::string> next_after;  // nullopt: null
};

Page ReadPage(const HttpResult& r) {
  INFO(r.body);
  REQUIRE(r.status == 200);
  const boost::json::value body = Json(r.body);
  REQUIRE(body.is_object());
  Page page;
  for (const auto& d : body.at("devices").as_array()) page.ids.emplace_back(d.at("id").as_string());
  // Always there: null on the last page.
  REQUIRE(body.as_object().contains("next_after"));
  const boost::json::value& next = body.at("next_after");
  if (!next.is_null()) page.next_after = std::string(next.as_string());
  return page;
}

TEST_CASE("vaultd pages GET /v1/devices by after and limit", "[e2e][devices][paging]") {
  VaultProcess v;
  REQUIRE(v.Start());
  // Seven of alice's devices enrolled out of id order, and bob's between them.
  for (const char* id : {"mac5", "mac2", "mac7", "mac1", "mac4", "mac3", "mac6"}) {
    v.Enrol(id, "alice@example.com", "corporate");
  }
  v.Enrol("mac3b", "bob@example.com", "corporate");
  const std::string alice = v.Token("alice@example.com");
  const std::string helpdesk = v.Token("hd@example.com", "--roles helpdesk");

  SECTION("own devices, three at a time, in id order") {
    Page p1 = ReadPage(v.As(alice, "GET", "/v1/devices?owner=me&limit=3"));
    CHECK(p1.ids == Ids{"mac1", "mac2", "mac3"});
    CHECK(p1.next_after == "mac3");
    Page p2 = ReadPage(v.As(alice, "GET", "/v1/devices?owner=me&limit=3&after=mac3"));
    CHECK(p2.ids == Ids{"mac4", "mac5", "mac6"});
    CHECK(p2.next_after == "mac6");
    Page p3 = ReadPage(v.As(alice, "GET", "/v1/devices?limit=3&after=mac6"));
    CHECK(p3.ids == Ids{"mac7"});
    CHECK_FALSE(p3.next_after.has_value());
  }
  SECTION("without after and limit: every device up to 100, next_after null") {
    Page all = ReadPage(v.As(alice, "GET", "/v1/devices?owner=me"));
    CHECK(all.ids == Ids{"mac1", "mac2", "mac3", "mac4", "mac5", "mac6", "mac7"});
    CHECK_FALSE(all.next_after.has_value());
    // A last page that is exactly full has no next page either.
    Page full = ReadPage(v.As(alice, "GET", "/v1/devices?owner=me&limit=7"));
    CHECK(full.ids.size() == 7);
    CHECK_FALSE(full.next_after.has_value());
  }
  SECTION("by owner for a role, limit 1, and after past the end") {
    Page p =
        ReadPage(v.As(helpdesk, "GET", "/v1/devices?owner=alice%40example.com&limit=1&after=mac4"));
    CHECK(p.ids == Ids{"mac5"});
    CHECK(p.next_after == "mac5");
    Page end = ReadPage(v.As(helpdesk, "GET", "/v1/devices?owner=alice%40example.com&after=zzz"));
    CHECK(end.ids.empty());
    CHECK_FALSE(end.next_after.has_value());
    Page serial = ReadPage(v.As(helpdesk, "GET", "/v1/devices?serial=S-mac3b&limit=1"));
    CHECK(serial.ids == Ids{"mac3b"});
    CHECK_FALSE(serial.next_after.has_value());
  }
  SECTION("a bad limit or after is 400 invalid_request") {
    for (const char* query :
         {"limit=0", "limit=1001", "limit=x", "limit=", "limit=-1", "limit=3.0",
          "after=", "after=a%20b", "after=a%2Fb", "owner=me&after=mac1&limit=0"}) {
      INFO(query);
      HttpResult r = v.As(alice, "GET", std::string("/v1/devices?") + query);
      CHECK(r.status == 400);
      CHECK(ErrCode(r) == "invalid_request");
    }
    HttpResult r = v.As(alice, "GET", "/v1/devices?after=" + std::string(129, 'a'));
    CHECK(r.status == 400);
    CHECK(ErrCode(r) == "invalid_request");
    CHECK(ReadPage(v.As(alice, "GET", "/v1/devices?limit=1000")).ids.size() == 7);
  }
}

}  // namespace
}  // namespace escrow::e2e
