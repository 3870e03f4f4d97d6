// POST /v1/devices/{id}/recovery-key/rotation-command against the real vaultd (API.md, "Apple
// MDM escrow, opened inside the HSM"): the mdm's half of RotateFileVaultKey. The whole loop:
// a key is seen, a rotation pending, the mdm gets the current key and the device's own
// certificate, the Mac (here `openssl cms -encrypt`) escrows its new key to that certificate,
// and the rotation clears. Every limit of API.md's row, across a kill -9; no key in any file
// or log line.
#include <string>

#include <catch2/catch.hpp>

#include "tests/e2e/cms_envelopes.h"
#include "tests/e2e/e2e_util.h"

namespace escrow::e2e {
namespace {

// Keys of the macOS format, found nowhere else in the repository's tests.
constexpr const char* kKeys[] = {"ROTA-2345-6789-ABCD-EFGH-JKLM", "ROTB-2345-6789-ABCD-EFGH-JKLM",
                                 "ROTC-2345-6789-ABCD-EFGH-JKLM", "ROTD-2345-6789-ABCD-EFGH-JKLM",
                                 "ROTE-2345-6789-ABCD-EFGH-JKLM"};

std::string Path(const std::string& id) {
  return "/v1/devices/" + id + "/recovery-key/rotation-command";
}

// Enrols `id`, stores `key` through the mdm and has its owner ask for a rotation.
void PendingRotation(const VaultProcess& v, const std::string& id, const std::string& owner,
                     const std::string& key, const std::string& ownership = "corporate") {
  v.Enrol(id, owner, ownership);
  HttpResult r = v.Mdm("PUT", "/v1/devices/" + id + "/recovery-key", KeyBody(key, key));
  REQUIRE(r.status == 200);
  r = v.As(v.Token(owner), "POST", "/v1/devices/" + id + "/recovery-key/rotate", "{}");
  REQUIRE(r.status == 202);
}

TEST_CASE("vaultd refuses the rotation command unless it is configured", "[e2e][rotation_command]") {
  VaultProcess v;
  REQUIRE(v.Start());
  PendingRotation(v, "mac1", "alice@example.com", kKeys[0]);
  HttpResult r = v.Mdm("POST", Path("mac1"), "{}");
  CHECK(r.status == 403);
  CHECK(ErrCode(r) == "forbidden");
  CHECK(r.body.find(kKeys[0]) == std::string::npos);
}

TEST_CASE("vaultd's rotation command closes the loop with the device's own certificate, once "
          "per pending rotation and within its daily cap",
          "[e2e][rotation_command][cms]") {
  VaultProcess v;
  Configure(v, "mdm_rotation_command", "true");
  Configure(v, "mdm_rotation_commands_per_day", "2");
  REQUIRE(v.Start());
  const std::string alice = "alice@example.com";
  v.Enrol("mac1", alice, "corporate");
  HttpResult r = v.Mdm("PUT", "/v1/devices/mac1/recovery-key", KeyBody(kKeys[0], kKeys[0]));
  REQUIRE(r.status == 200);
  // No rotation pending: 409, and nothing released.
  r = v.Mdm("POST", Path("mac1"), "{}");
  CHECK(r.status == 409);
  CHECK(ErrCode(r) == "rotation_not_pending");
  REQUIRE(v.As(v.Token(alice), "POST", "/v1/devices/mac1/recovery-key/rotate", "{}").status ==
          202);

  // What RotateFileVaultKey needs, exactly as API.md gives it.
  r = v.Mdm("POST", Path("mac1"), "{}");
  INFO(r.body);
  REQUIRE(r.status == 200);
  const boost::json::object answer = Json(r.body).as_object();
  CHECK(answer.size() == 4);
  CHECK(answer.at("key_type") == "personal");
  CHECK(answer.at("unlock_recovery_key") == kKeys[0]);
  CHECK(answer.at("version") == 1);
  const std::string reply_b64(answer.at("reply_certificate_der_base64").as_string());
  // The reply certificate is the device's own: the one its route serves, naming mac1.
  r = v.Mdm("GET", "/v1/devices/mac1/escrow-certificate");
  REQUIRE(r.status == 200);
  CHECK(std::string(Json(r.body).at("der_base64").as_string()) == reply_b64);
  Envelopes e;
  const std::string reply = e.Cert(std::string(Json(r.body).at("pem").as_string()));
  std::string subject;
  REQUIRE(Sh("openssl x509 -noout -subject -in " + Quote(reply), &subject) == 0);
  CHECK_THAT(subject, Catch::Contains("mac1"));

  // Once per pending rotation, also after a kill -9 and a restart.
  REQUIRE(v.Stop(9) == -1);
  REQUIRE(v.Start());
  r = v.Mdm("POST", Path("mac1"), "{}");
  CHECK(r.status == 409);
  CHECK(ErrCode(r) == "rotation_not_pending");

  // The Mac escrows its new key to the reply certificate: the rotation clears.
  r = v.Mdm("PUT", "/v1/devices/mac1/recovery-key/cms",
            R"({"cms":")" + e.Make(std::string(kKeys[1]) + "\n", "-aes256", Quote(reply)) +
                R"("})");
  INFO(r.body);
  REQUIRE(r.status == 200);
  CHECK(Json(r.body).at("version") == 2);
  r = v.Mdm("POST", "/v1/devices/mac1/checkin", "{}");
  REQUIRE(r.status == 200);
  CHECK(Json(r.body).at("rotation_required") == false);

  // Corporate Macs with a key only; the mdm only.
  PendingRotation(v, "mac2", "bob@example.com", kKeys[2], "personal");
  CHECK(ErrCode(v.Mdm("POST", Path("mac2"), "{}")) == "personal_device");
  v.Enrol("pc1", "bob@example.com", "corporate", "windows");
  CHECK(ErrCode(v.Mdm("POST", Path("pc1"), "{}")) == "invalid_request");
  v.Enrol("mac3", "bob@example.com", "corporate");
  CHECK(ErrCode(v.Mdm("POST", Path("mac3"), "{}")) == "recovery_key_not_found");
  CHECK(ErrCode(v.Mdm("POST", Path("nope"), "{}")) == "device_not_found");
  CHECK(ErrCode(v.Mdm("POST", Path("mac1"), "{")) == "invalid_request");
  const std::string helpdesk = v.Token("hd@example.com", "--roles helpdesk");
  CHECK(ErrCode(v.As(helpdesk, "POST", Path("mac1"), "{}")) == "forbidden");

  // The daily cap (2 here): the second command passes, the third is 429 with an alert.
  PendingRotation(v, "mac4", "carol@example.com", kKeys[3]);
  PendingRotation(v, "mac5", "carol@example.com", kKeys[4]);
  r = v.Mdm("POST", Path("mac4"), "{}");
  CHECK(r.status == 200);
  r = v.Mdm("POST", Path("mac5"), "{}");
  CHECK(r.status == 429);
  CHECK(ErrCode(r) == "rate_limited");
  CHECK(r.body.find(kKeys[4]) == std::string::npos);

  // The audit trail has each release and the alert, never a key.
  const std::string auditor = v.Token("aud@example.com", "--roles auditor");
  r = v.As(auditor, "GET", "/v1/audit?limit=1000");
  REQUIRE(r.status == 200);
  CHECK_THAT(r.body, Catch::Contains("key.rotation_command"));
  CHECK_THAT(r.body, Catch::Contains("version=1 reply_serial="));
  CHECK_THAT(r.body, Catch::Contains("alert: daily rotation-command cap reached"));

  REQUIRE(v.Stop() == 0);
  const std::string log = v.Log();
  for (const char* key : kKeys) {
    INFO(key);
    CHECK(log.find(key) == std::string::npos);
    CHECK(r.body.find(key) == std::string::npos);
    CHECK(Sh("grep -rlaF " + Quote(key) + " " + Quote(v.state())) != 0);
  }
}

}  // namespace
}  // namespace escrow::e2e
