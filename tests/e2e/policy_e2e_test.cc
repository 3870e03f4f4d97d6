#include <catch2/catch.hpp>

#include "tests/e2e/e2e_util.h"

namespace escrow::e2e {
namespace {

TEST_CASE("vaultd applies the policy table through HTTP", "[e2e][policy]") {
  VaultProcess v;
  REQUIRE(v.Start());
  v.Enrol("mac1", "alice@example.com", "corporate");
  v.Enrol("home1", "alice@example.com", "personal");
  v.Enrol("bobmac", "bob@example.com", "corporate");
  const std::string alice = v.Token("alice@example.com");
  const std::string bob = v.Token("bob@example.com");
  const std::string helpdesk = v.Token("hd@example.com", "--roles helpdesk");
  const std::string admin = v.Token("root@example.com", "--roles admin");
  const std::string auditor = v.Token("aud@example.com", "--roles auditor");
  REQUIRE(v.As(alice, "PUT", "/v1/devices/mac1/recovery-key", KeyBody(kMacKey1, kMacKey1)).status == 200);
  REQUIRE(v.As(alice, "PUT", "/v1/devices/home1/recovery-key", KeyBody(kMacKey2, kMacKey2)).status == 200);

  SECTION("other people's devices are 404, never 403") {
    HttpResult r = v.As(bob, "GET", "/v1/devices/mac1");
    CHECK(r.status == 404);
    CHECK(ErrCode(r) == "device_not_found");
    r = v.As(bob, "POST", "/v1/devices/mac1/recovery-key/retrieve", "{}");
    CHECK(r.status == 404);
    CHECK(ErrCode(r) == "device_not_found");
    CHECK(v.As(bob, "GET", "/v1/devices/nosuch").status == 404);
    CHECK(v.As(bob, "GET", "/v1/devices/mac1/recovery-key/versions").status == 404);
  }
  SECTION("lists: the caller's own; others by role") {
    HttpResult r = v.As(alice, "GET", "/v1/devices?owner=me");
    REQUIRE(r.status == 200);
    CHECK(Json(r.body).at("devices").as_array().size() == 2);
    CHECK(v.As(alice, "GET", "/v1/devices?owner=bob%40example.com").status == 403);
    r = v.As(helpdesk, "GET", "/v1/devices?owner=bob%40example.com");
    REQUIRE(r.status == 200);
    CHECK(Json(r.body).at("devices").as_array().size() == 1);
  }
  SECTION("helpdesk: corporate devices with a reason, never personal ones") {
    HttpResult r = v.As(helpdesk, "POST", "/v1/devices/mac1/recovery-key/retrieve",
                        R"({"reason":"user locked out, ticket 42"})");
    CHECK(r.status == 200);
    CHECK(Json(r.body).at("recovery_key") == kMacKey1);
    r = v.As(helpdesk, "POST", "/v1/devices/home1/recovery-key/retrieve",
             R"({"reason":"user locked out"})");
    CHECK(r.status == 403);
    CHECK(ErrCode(r) == "personal_device");
    r = v.As(helpdesk, "POST", "/v1/devices/mac1/recovery-key/retrieve", "{}");
    CHECK(r.status == 400);
    CHECK(v.As(helpdesk, "POST", "/v1/devices/home1/recovery-key/rotate", "{}").status == 202);
  }
  SECTION("the owner may not retrieve older versions; mdm may not retrieve at all") {
    REQUIRE(v.Mdm("PUT", "/v1/devices/mac1/recovery-key",
                  std::string(R"({"recovery_key":")") + kMacKey2 + "\"}").status == 200);
    HttpResult r = v.As(alice, "POST", "/v1/devices/mac1/recovery-key/retrieve", R"({"version":1})");
    CHECK(r.status == 403);
    r = v.Mdm("POST", "/v1/devices/mac1/recovery-key/retrieve", "{}");
    CHECK(r.status == 403);
  }
  SECTION("users may not enrol or check in; only mdm changes the owner") {
    CHECK(v.As(alice, "PUT", "/v1/devices/new1", DeviceBody("alice@example.com")).status == 403);
    CHECK(v.As(alice, "POST", "/v1/devices/mac1/checkin", "{}").status == 403);
    CHECK(v.As(admin, "PUT", "/v1/devices/mac1", DeviceBody("bob@example.com")).status == 403);
    CHECK(v.As(admin, "PUT", "/v1/devices/new1", DeviceBody("carol@example.com")).status == 201);
  }
  SECTION("audit and metrics by role") {
    CHECK(v.As(alice, "GET", "/v1/audit").status == 403);
    CHECK(v.As(helpdesk, "GET", "/v1/audit/verify").status == 403);
    HttpResult r = v.As(auditor, "GET", "/v1/audit?device_id=mac1&limit=2");
    REQUIRE(r.status == 200);
    boost::json::value page = Json(r.body);
    CHECK(page.at("records").as_array().size() == 2);
    CHECK(page.at("next_after").is_int64());
    r = v.As(admin, "GET", "/v1/audit/verify");
    REQUIRE(r.status == 200);
    CHECK(Json(r.body).at("ok") == true);
    CHECK(Json(r.body).at("first_bad").is_null());
    CHECK(v.As(alice, "GET", "/v1/metrics").status == 403);
    CHECK(v.As(auditor, "GET", "/v1/metrics").status == 403);
    r = v.Mdm("GET", "/v1/metrics");
    CHECK(r.status == 200);
    CHECK(r.headers["content-type"] == "text/plain; version=0.0.4");
    CHECK(r.body.find("vault_http_requests_total{") != std::string::npos);
    CHECK(v.As(admin, "GET", "/v1/metrics").status == 200);
  }
  SECTION("store-key preconditions: 409 and 400 codes") {
    REQUIRE(v.Mdm("PUT", "/v1/devices/noenc", DeviceBody("alice@example.com", "corporate", "macos", false)).status == 201);
    REQUIRE(v.Mdm("POST", "/v1/devices/noenc/checkin", "{}").status == 200);
    HttpResult r = v.As(alice, "PUT", "/v1/devices/noenc/recovery-key", KeyBody(kMacKey1, kMacKey1));
    CHECK(r.status == 409);
    CHECK(ErrCode(r) == "encryption_not_enabled");
    REQUIRE(v.Mdm("PUT", "/v1/devices/nosync", DeviceBody("alice@example.com")).status == 201);
    r = v.As(alice, "PUT", "/v1/devices/nosync/recovery-key", KeyBody(kMacKey1, kMacKey1));
    CHECK(r.status == 409);
    CHECK(ErrCode(r) == "device_not_synced");
    r = v.As(alice, "PUT", "/v1/devices/mac1/recovery-key", KeyBody("ABCD", "ABCD"));
    CHECK(r.status == 400);
    CHECK(ErrCode(r) == "invalid_recovery_key");
    r = v.As(alice, "PUT", "/v1/devices/mac1/recovery-key", KeyBody(kMacKey1, kMacKey2));
    CHECK(r.status == 400);
    CHECK(ErrCode(r) == "keys_mismatch");
    CHECK(Json(r.body).at("error").at("message") == "Keys must match. Check keys and try again.");
    r = v.As(bob, "POST", "/v1/devices/bobmac/recovery-key/retrieve", "{}");
    CHECK(r.status == 404);
    CHECK(ErrCode(r) == "recovery_key_not_found");
  }
  CHECK(v.Stop() == 0);
}

TEST_CASE("vaultd limits retrievals per user and answers 429 with Retry-After",
          "[e2e][policy][limits]") {
  VaultProcess v;
  REQUIRE(v.Start());
  v.Enrol("mac1", "alice@example.com", "corporate");
  const std::string alice = v.Token("alice@example.com");
  REQUIRE(v.As(alice, "PUT", "/v1/devices/mac1/recovery-key", KeyBody(kMacKey1, kMacKey1)).status == 200);
  for (int i = 0; i < 10; ++i) {
    REQUIRE(v.As(alice, "POST", "/v1/devices/mac1/recovery-key/retrieve", "{}").status == 200);
  }
  HttpResult r = v.As(alice, "POST", "/v1/devices/mac1/recovery-key/retrieve", "{}");
  CHECK(r.status == 429);
  CHECK(ErrCode(r) == "rate_limited");
  const int wait = std::stoi(r.headers["retry-after"]);  // throws (fails the test) on junk
  CHECK(wait >= 1);
  CHECK(wait <= 60);
  // Other calls of the same user are not retrievals.
  CHECK(v.As(alice, "GET", "/v1/devices/mac1").status == 200);
  // Audited once for the window.
  const std::string admin = v.Token("root@example.com", "--roles admin");
  r = v.As(admin, "GET", "/v1/audit?limit=1000");
  REQUIRE(r.status == 200);
  int throttled = 0;
  const boost::json::value page = Json(r.body);
  for (const auto& rec : page.at("records").as_array()) {
    if (rec.at("action") == "rate_limited") ++throttled;
  }
  CHECK(throttled == 1);
  CHECK(v.Stop() == 0);
}

}  // namespace
}  // namespace escrow::e2e
