#include <catch2/catch.hpp>

#include "base/clock.h"
#include "tests/e2e/e2e_util.h"
#include "tests/support/nss_softoken.h"

namespace escrow::e2e {
namespace {

// The story, on a vault made and started by the caller.
void RunStory(VaultProcess& v) {
  REQUIRE(v.Start());
  const std::string alice = v.Token("alice@example.com");
  const std::string helpdesk = v.Token("hd@example.com", "--roles helpdesk");

  // mdm enrols the Mac and it checks in.
  HttpResult r = v.Mdm("PUT", "/v1/devices/mac1", DeviceBody("alice@example.com"));
  REQUIRE(r.status == 201);
  boost::json::value dev = Json(r.body);
  CHECK(dev.at("id") == "mac1");
  CHECK(dev.at("has_recovery_key") == false);
  CHECK(dev.at("key_version").is_null());
  CHECK(dev.at("last_checkin_at").is_null());
  r = v.Mdm("PUT", "/v1/devices/mac1", DeviceBody("alice@example.com"));
  CHECK(r.status == 200);  // replaced
  r = v.Mdm("POST", "/v1/devices/mac1/checkin", "{}");
  REQUIRE(r.status == 200);
  CHECK(Json(r.body).at("rotation_required") == false);

  // Alice stores her key with confirmation (lower case, no dashes: normalised).
  r = v.As(alice, "PUT", "/v1/devices/mac1/recovery-key",
           KeyBody(kMacKey1, "abcdefghijklmnopqrstuvwx"));
  REQUIRE(r.status == 200);
  CHECK(Json(r.body).at("version") == 1);
  CHECK(Json(r.body).at("message") == "Your recovery key has been updated.");

  // She retrieves it; it is shown for five minutes.
  r = v.As(alice, "POST", "/v1/devices/mac1/recovery-key/retrieve", "{}");
  REQUIRE(r.status == 200);
  boost::json::value got = Json(r.body);
  CHECK(got.at("recovery_key") == kMacKey1);
  CHECK(got.at("version") == 1);
  std::optional<TimePoint> expires = ParseRfc3339(std::string(got.at("expires_at").as_string()));
  REQUIRE(expires);
  const auto ahead = std::chrono::duration_cast<std::chrono::seconds>(*expires - std::chrono::system_clock::now());
  CHECK(ahead.count() > 290);
  CHECK(ahead.count() <= 301);
  CHECK(r.headers["cache-control"] == "no-store");

  // The next check-in asks for rotation; storing the same key again does not clear it.
  r = v.Mdm("POST", "/v1/devices/mac1/checkin", "{}");
  CHECK(Json(r.body).at("rotation_required") == true);
  r = v.As(alice, "PUT", "/v1/devices/mac1/recovery-key", KeyBody(kMacKey1, kMacKey1));
  REQUIRE(r.status == 200);
  CHECK(Json(r.body).at("version") == 1);
  r = v.Mdm("POST", "/v1/devices/mac1/checkin", "{}");
  CHECK(Json(r.body).at("rotation_required") == true);

  // mdm escrows a new key (no confirmation needed): version 2 clears the rotation.
  r = v.Mdm("PUT", "/v1/devices/mac1/recovery-key", std::string(R"({"recovery_key":")") + kMacKey2 + "\"}");
  REQUIRE(r.status == 200);
  CHECK(Json(r.body).at("version") == 2);
  r = v.Mdm("POST", "/v1/devices/mac1/checkin", "{}");
  CHECK(Json(r.body).at("rotation_required") == false);

  // Alice now gets version 2; helpdesk gets version 1 with a reason.
  r = v.As(alice, "POST", "/v1/devices/mac1/recovery-key/retrieve", "{}");
  REQUIRE(r.status == 200);
  CHECK(Json(r.body).at("version") == 2);
  CHECK(Json(r.body).at("recovery_key") == kMacKey2);
  r = v.As(helpdesk, "POST", "/v1/devices/mac1/recovery-key/retrieve",
           R"({"reason":"ticket 7: older backup","version":1})");
  REQUIRE(r.status == 200);
  CHECK(Json(r.body).at("version") == 1);
  CHECK(Json(r.body).at("recovery_key") == kMacKey1);

  // Versions, the device, rotation on request, and the audit trail.
  r = v.As(alice, "GET", "/v1/devices/mac1/recovery-key/versions");
  REQUIRE(r.status == 200);
  const boost::json::value versions_json = Json(r.body);
  const auto& versions = versions_json.at("versions").as_array();
  REQUIRE(versions.size() == 2);
  CHECK(versions[0].at("state") == "superseded");
  CHECK(versions[1].at("state") == "active");
  r = v.As(alice, "GET", "/v1/devices/mac1");
  REQUIRE(r.status == 200);
  CHECK(Json(r.body).at("key_version") == 2);
  CHECK(Json(r.body).at("has_recovery_key") == true);
  r = v.As(alice, "POST", "/v1/devices/mac1/recovery-key/rotate", "{}");
  CHECK(r.status == 202);
  CHECK(Json(r.body) == Json(R"({"rotation_pending":true})"));
  const std::string auditor = v.Token("aud@example.com", "--roles auditor");
  r = v.As(auditor, "GET", "/v1/audit/verify");
  REQUIRE(r.status == 200);
  CHECK(Json(r.body).at("ok") == true);

  // No plaintext key in the log.
  CHECK(v.Stop() == 0);
  const std::string log = v.Log();
  CHECK(log.find("ABCD-EFGH") == std::string::npos);
  CHECK(log.find("ZZZZ-YYYY") == std::string::npos);
  CHECK(log.find(alice.substr(alice.rfind('.') + 1)) == std::string::npos);
  // One line per request, with its status, route and latency in whole microseconds.
  CHECK_THAT(log, Catch::Matches(
                      R"([\s\S]*\{"event":"request","request_id":"[0-9a-f]{32}","method":"POST",)"
                      R"("route":"/v1/devices/\{id\}/recovery-key/rotate","status":202,)"
                      R"("latency_us":[0-9]+,"principal":"user:alice@example.com"\}[\s\S]*)"));
}

TEST_CASE("The user story end to end through vaultd", "[e2e][story]") {
  VaultProcess v;
  RunStory(v);
}

// The same story on a second PKCS#11 module (issue 20): NSS's softoken, named by a PKCS#11 URI
// with its init_args; it keeps no data objects, has no CKA_CHECK_VALUE and no SO user.
TEST_CASE("The user story end to end through vaultd on NSS's softoken", "[e2e][story][nss]") {
  REQUIRE(testing::NssSoftoken::Available());
  const testing::ChildrenSkipLeakCheck no_leak_check;  // NSS in vaultctl and vaultd
  testing::NssSoftoken nss;
  VaultProcess v(
      VaultProcess::OnModule{nss.module_path(), nss.token_uri(), nss.init_args(), nss.pin_file()});
  RunStory(v);
}

}  // namespace
}  // namespace escrow::e2e
