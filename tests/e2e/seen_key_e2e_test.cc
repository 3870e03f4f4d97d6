// Issue 13, M2: a seen key stays burned, through the real vaultd. Both sequences passed the
// store and cleared the rotation before keyed fingerprints and the state record's burned set.
#include <catch2/catch.hpp>

#include "tests/e2e/e2e_util.h"

namespace escrow::e2e {
namespace {

constexpr const char* kMacKey3 = "QQQQ-RRRR-SSSS-TTTT-UUUU-6789";

bool RotationPending(const VaultProcess& v, const std::string& id) {
  const HttpResult r = v.Mdm("GET", "/v1/devices/" + id);
  REQUIRE(r.status == 200);
  return Json(r.body).at("rotation_pending").as_bool();
}

std::string MdmKeyBody(const std::string& key) { return R"({"recovery_key":")" + key + "\"}"; }

TEST_CASE("A key stored under an earlier owner is burned for the new owner, superseded or not",
          "[e2e][seen_key]") {
  VaultProcess v;
  REQUIRE(v.Start());
  v.Enrol("mac1", "alice@example.com", "corporate");
  const std::string alice = v.Token("alice@example.com");
  // Alice stores K1, then K2: K1 is superseded, never released, but Alice knows it.
  REQUIRE(v.As(alice, "PUT", "/v1/devices/mac1/recovery-key", KeyBody(kMacKey1, kMacKey1)).status ==
          200);
  REQUIRE(v.As(alice, "PUT", "/v1/devices/mac1/recovery-key", KeyBody(kMacKey2, kMacKey2)).status ==
          200);
  // The device goes to Bob: a rotation is pending.
  REQUIRE(v.Mdm("PUT", "/v1/devices/mac1", DeviceBody("bob@example.com")).status == 200);
  REQUIRE(RotationPending(v, "mac1"));
  const std::string bob = v.Token("bob@example.com");

  SECTION("Bob stores Alice's superseded key: stored, and the rotation stays pending") {
    HttpResult r = v.As(bob, "PUT", "/v1/devices/mac1/recovery-key", KeyBody(kMacKey1, kMacKey1));
    REQUIRE(r.status == 200);
    CHECK(RotationPending(v, "mac1"));
    // The check-in tells the device to rotate.
    r = v.Mdm("POST", "/v1/devices/mac1/checkin", "{}");
    REQUIRE(r.status == 200);
    CHECK(Json(r.body).at("rotation_required").as_bool());
  }
  SECTION("Bob stores Alice's current key: the same") {
    REQUIRE(v.As(bob, "PUT", "/v1/devices/mac1/recovery-key", KeyBody(kMacKey2, kMacKey2)).status ==
            200);
    CHECK(RotationPending(v, "mac1"));
  }
  SECTION("a key nobody else knew clears it") {
    REQUIRE(v.As(bob, "PUT", "/v1/devices/mac1/recovery-key", KeyBody(kMacKey3, kMacKey3)).status ==
            200);
    CHECK_FALSE(RotationPending(v, "mac1"));
  }
}

TEST_CASE("A released key stored again after a rotation is burned and sets the rotation again",
          "[e2e][seen_key]") {
  VaultProcess v;
  REQUIRE(v.Start());
  v.Enrol("mac1", "alice@example.com", "corporate");
  const std::string alice = v.Token("alice@example.com");
  const std::string helpdesk = v.Token("hd@example.com", "--roles helpdesk");
  REQUIRE(v.As(alice, "PUT", "/v1/devices/mac1/recovery-key", KeyBody(kMacKey1, kMacKey1)).status ==
          200);
  // Helpdesk sees K1: burned, rotation pending.
  HttpResult r = v.As(helpdesk, "POST", "/v1/devices/mac1/recovery-key/retrieve",
                      R"({"reason":"user locked out, ticket 7"})");
  REQUIRE(r.status == 200);
  REQUIRE(RotationPending(v, "mac1"));
  // The device rotates and escrows K2: the rotation is done.
  REQUIRE(v.Mdm("PUT", "/v1/devices/mac1/recovery-key", MdmKeyBody(kMacKey2)).status == 200);
  REQUIRE_FALSE(RotationPending(v, "mac1"));
  // The owner stores K1 again: it is stored, as a burned key, and the rotation is pending.
  r = v.As(alice, "PUT", "/v1/devices/mac1/recovery-key", KeyBody(kMacKey1, kMacKey1));
  REQUIRE(r.status == 200);
  CHECK(Json(r.body).at("version").to_number<std::int64_t>() == 3);
  CHECK(RotationPending(v, "mac1"));
  r = v.Mdm("POST", "/v1/devices/mac1/checkin", "{}");
  REQUIRE(r.status == 200);
  CHECK(Json(r.body).at("rotation_required").as_bool());
  // And only a key nobody has seen clears it.
  REQUIRE(v.Mdm("PUT", "/v1/devices/mac1/recovery-key", MdmKeyBody(kMacKey3)).status == 200);
  CHECK_FALSE(RotationPending(v, "mac1"));
}

}  // namespace
}  // namespace escrow::e2e
