// Issue 14 through the real vaultd over HTTPS: checking a key without releasing it
// (POST .../recovery-key/verify), key IDs on stores and GET /v1/devices?key_id=, and the
// version fields key_id and source.
#include <catch2/catch.hpp>

#include <filesystem>

#include "tests/e2e/e2e_util.h"

namespace escrow::e2e {
namespace {

// Not the example key that error messages show (an audit record of a refusal holds it).
constexpr const char* kKeyA = "PQRS-TUVW-2345-6789-HJKL-MNPQ";
constexpr const char* kWinKey = "000000-000011-719895-123453-000022-111111-222222-333333";
constexpr const char* kWinKey2 = "111111-222222-333333-444444-555555-666666-000011-000022";

std::string VerifyBody(const std::string& key, int version = 0) {
  std::string body = R"({"recovery_key":")" + key + "\"";
  if (version > 0) body += R"(,"version":)" + std::to_string(version);
  return body + "}";
}

std::string MdmKeyBody(const std::string& key, const std::string& key_id = "") {
  std::string body = R"({"recovery_key":")" + key + "\"";
  if (!key_id.empty()) body += R"(,"key_id":")" + key_id + "\"";
  return body + "}";
}

boost::json::value Device(const VaultProcess& v, const std::string& id) {
  const HttpResult r = v.Mdm("GET", "/v1/devices/" + id);
  REQUIRE(r.status == 200);
  return Json(r.body);
}

// Every file of the database: main file, WAL and shared memory.
std::string DatabaseBytes(const VaultProcess& v) {
  std::string all;
  for (const char* suffix : {"", "-wal", "-shm"}) {
    const std::string path = v.state() + "/vault.db" + suffix;
    if (!std::filesystem::exists(path)) continue;
    std::string out;
    REQUIRE(Sh("cat " + Quote(path), &out) == 0);
    all += out;
  }
  return all;
}

std::vector<std::string> DeviceIds(const HttpResult& r) {
  REQUIRE(r.status == 200);
  std::vector<std::string> ids;
  const boost::json::value body = Json(r.body);
  for (const auto& d : body.at("devices").as_array()) {
    ids.emplace_back(d.at("id").as_string());
    // Never key material in a listing.
    CHECK_FALSE(d.as_object().contains("recovery_key"));
  }
  return ids;
}

TEST_CASE("Verify: the owner checks the current key, the mdm any version, and nothing is "
          "decrypted or written in the clear",
          "[e2e][verify]") {
  VaultProcess v;
  REQUIRE(v.Start());
  v.Enrol("mac1", "alice@example.com", "corporate");
  const std::string alice = v.Token("alice@example.com");
  const std::string bob = v.Token("bob@example.com");
  const std::string helpdesk = v.Token("hd@example.com", "--roles helpdesk");
  const std::string path = "/v1/devices/mac1/recovery-key/verify";
  // Nothing stored yet: 404 for both.
  CHECK(ErrCode(v.As(alice, "POST", path, VerifyBody(kKeyA))) == "recovery_key_not_found");
  CHECK(ErrCode(v.Mdm("POST", path, VerifyBody(kKeyA))) == "recovery_key_not_found");
  REQUIRE(v.As(alice, "PUT", "/v1/devices/mac1/recovery-key", KeyBody(kKeyA, kKeyA)).status ==
          200);
  CHECK(Device(v, "mac1").at("escrow_verified_at").is_null());

  // A mismatch, then a match typed in lower case without dashes.
  HttpResult r = v.As(alice, "POST", path, VerifyBody(kMacKey2));
  REQUIRE(r.status == 200);
  CHECK(Json(r.body) == Json(R"({"matches":false,"version":1})"));
  CHECK(Device(v, "mac1").at("escrow_verified_at").is_null());
  r = v.As(alice, "POST", path, VerifyBody("pqrstuvw23456789hjklmnpq"));
  REQUIRE(r.status == 200);
  CHECK(Json(r.body) == Json(R"({"matches":true,"version":1})"));
  const boost::json::value verified = Device(v, "mac1").at("escrow_verified_at");
  REQUIRE(verified.is_string());
  CHECK(std::string(verified.as_string()).size() >= 20);  // RFC 3339

  // A new key from the mdm clears the mark and is version 2.
  REQUIRE(v.Mdm("PUT", "/v1/devices/mac1/recovery-key", MdmKeyBody(kMacKey2)).status == 200);
  CHECK(Device(v, "mac1").at("escrow_verified_at").is_null());
  // The mdm: any version that exists. A match on an older version marks nothing.
  r = v.Mdm("POST", path, VerifyBody(kKeyA, 1));
  REQUIRE(r.status == 200);
  CHECK(Json(r.body) == Json(R"({"matches":true,"version":1})"));
  CHECK(ErrCode(v.Mdm("POST", path, VerifyBody(kKeyA, 7))) == "recovery_key_not_found");
  CHECK(Device(v, "mac1").at("escrow_verified_at").is_null());
  // The owner: the current version only; a match marks it.
  r = v.As(alice, "POST", path, VerifyBody(kMacKey2, 2));
  REQUIRE(r.status == 200);
  CHECK(Json(r.body) == Json(R"({"matches":true,"version":2})"));
  CHECK(Device(v, "mac1").at("escrow_verified_at").is_string());
  CHECK(ErrCode(v.As(alice, "POST", path, VerifyBody(kKeyA, 1))) == "recovery_key_not_found");
  // Others: the helpdesk may not, a stranger does not see the device; a bad key is 400.
  r = v.As(helpdesk, "POST", path, VerifyBody(kMacKey2));
  CHECK(r.status == 403);
  CHECK(ErrCode(r) == "forbidden");
  r = v.As(bob, "POST", path, VerifyBody(kMacKey2));
  CHECK(r.status == 404);
  CHECK(ErrCode(r) == "device_not_found");
  r = v.As(alice, "POST", path, VerifyBody("ABCD-EFGH"));
  CHECK(r.status == 400);
  CHECK(ErrCode(r) == "invalid_recovery_key");
  CHECK(ErrCode(v.As(alice, "POST", path, R"({"version":1})")) == "invalid_request");
  // A verify releases nothing: no rotation became pending.
  CHECK(Device(v, "mac1").at("rotation_pending") == false);

  // Audited with version and outcome.
  const std::string auditor = v.Token("aud@example.com", "--roles auditor");
  r = v.As(auditor, "GET", "/v1/audit?device_id=mac1&limit=1000");
  REQUIRE(r.status == 200);
  int verifies = 0;
  const boost::json::value records = Json(r.body);
  for (const auto& rec : records.at("records").as_array()) {
    if (rec.at("action") != "key.verify" || rec.at("outcome") != "ok") continue;
    ++verifies;
    CHECK(std::string(rec.at("detail").as_string()).find("version=") != std::string::npos);
  }
  CHECK(verifies == 4);

  // No plaintext key in the database files or vaultd's log, in any form it was typed in.
  CHECK(v.Stop() == 0);
  const std::string db = DatabaseBytes(v);
  const std::string log = v.Log();
  REQUIRE(db.size() > 4096);
  for (const std::string& secret : {std::string(kKeyA), std::string(kMacKey2),
                                   std::string("pqrstuvw23456789hjklmnpq"),
                                   std::string("PQRSTUVW23456789HJKLMNPQ"),
                                   std::string("ZZZZYYYYXXXX")}) {
    INFO(secret);
    CHECK(db.find(secret) == std::string::npos);
    CHECK(log.find(secret) == std::string::npos);
  }
}

TEST_CASE("Verify mismatches are counted per device across callers: the sixth attempt is 429 "
          "with Retry-After and an alert",
          "[e2e][verify]") {
  VaultProcess v;
  REQUIRE(v.Start());
  v.Enrol("mac1", "alice@example.com", "corporate");
  v.Enrol("mac2", "alice@example.com", "corporate");
  const std::string alice = v.Token("alice@example.com");
  for (const char* id : {"mac1", "mac2"}) {
    REQUIRE(v.Mdm("PUT", std::string("/v1/devices/") + id + "/recovery-key",
                  MdmKeyBody(kMacKey1))
                .status == 200);
  }
  const std::string path = "/v1/devices/mac1/recovery-key/verify";
  // Five wrong guesses, from the owner and the mdm in turn.
  for (int i = 0; i < 5; ++i) {
    const HttpResult r = i % 2 == 0 ? v.As(alice, "POST", path, VerifyBody(kMacKey2))
                                    : v.Mdm("POST", path, VerifyBody(kMacKey2));
    REQUIRE(r.status == 200);
    CHECK(Json(r.body).at("matches") == false);
  }
  // Then every attempt on the device is refused, the right key too, whoever asks.
  for (int i = 0; i < 2; ++i) {
    const HttpResult r = i == 0 ? v.As(alice, "POST", path, VerifyBody(kMacKey1))
                                : v.Mdm("POST", path, VerifyBody(kMacKey1));
    CHECK(r.status == 429);
    CHECK(ErrCode(r) == "rate_limited");
    REQUIRE(r.headers.count("retry-after") == 1);
    const int wait = std::stoi(r.headers.at("retry-after"));
    CHECK(wait > 3000);
    CHECK(wait <= 3600);
  }
  // Another device is not affected.
  HttpResult r = v.Mdm("POST", "/v1/devices/mac2/recovery-key/verify", VerifyBody(kMacKey1));
  REQUIRE(r.status == 200);
  CHECK(Json(r.body).at("matches") == true);
  // The alert is in the audit trail.
  const std::string auditor = v.Token("aud@example.com", "--roles auditor");
  r = v.As(auditor, "GET", "/v1/audit?device_id=mac1&limit=1000");
  REQUIRE(r.status == 200);
  int alerts = 0;
  const boost::json::value records = Json(r.body);
  for (const auto& rec : records.at("records").as_array()) {
    if (std::string(rec.at("detail").as_string()).find("alert: verify mismatches") !=
        std::string::npos) {
      ++alerts;
    }
  }
  CHECK(alerts >= 1);
}

TEST_CASE("Key IDs: a GUID in braces and lower case is stored normalised and found by its "
          "first 8 hex digits - owners find only their own",
          "[e2e][key_id]") {
  VaultProcess v;
  REQUIRE(v.Start());
  v.Enrol("win1", "alice@example.com", "corporate", "windows");
  v.Enrol("win2", "bob@example.com", "corporate", "windows");
  const std::string alice = v.Token("alice@example.com");
  const std::string bob = v.Token("bob@example.com");
  const std::string helpdesk = v.Token("hd@example.com", "--roles helpdesk");
  // Alice types her key with the protector ID; the mdm escrows Bob's.
  std::string body = R"({"recovery_key":")" + std::string(kWinKey) +
                     R"(","confirm_recovery_key":")" + kWinKey +
                     R"(","key_id":"{1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d}"})";
  REQUIRE(v.As(alice, "PUT", "/v1/devices/win1/recovery-key", body).status == 200);
  REQUIRE(v.Mdm("PUT", "/v1/devices/win2/recovery-key",
                MdmKeyBody(kWinKey2, "9F8E7D6C-0000-0000-0000-000000000002"))
              .status == 200);

  HttpResult r = v.Mdm("GET", "/v1/devices/win1/recovery-key/versions");
  REQUIRE(r.status == 200);
  const boost::json::value version = Json(r.body).at("versions").at(0);
  CHECK(version.at("key_id") == "1A2B3C4D-5E6F-7A8B-9C0D-1E2F3A4B5C6D");
  CHECK(version.at("source") == "typed");
  CHECK(version.at("stored_by_kind") == "user");
  r = v.Mdm("GET", "/v1/devices/win2/recovery-key/versions");
  CHECK(Json(r.body).at("versions").at(0).at("source") == "mdm");

  // The helpdesk reads 1A2B3C4D off the recovery screen.
  using Ids = std::vector<std::string>;
  CHECK(DeviceIds(v.As(helpdesk, "GET", "/v1/devices?key_id=1A2B3C4D")) == Ids{"win1"});
  CHECK(DeviceIds(v.As(helpdesk, "GET", "/v1/devices?key_id=1a2b3c4d")) == Ids{"win1"});
  CHECK(DeviceIds(v.As(helpdesk, "GET",
                       "/v1/devices?key_id=%7B1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d%7D")) ==
        Ids{"win1"});
  CHECK(DeviceIds(v.As(helpdesk, "GET", "/v1/devices?key_id=9f8e7d6c")) == Ids{"win2"});
  CHECK(DeviceIds(v.As(helpdesk, "GET", "/v1/devices?key_id=00000000")).empty());
  // Owners find only their own devices.
  CHECK(DeviceIds(v.As(alice, "GET", "/v1/devices?key_id=1A2B3C4D")) == Ids{"win1"});
  CHECK(DeviceIds(v.As(bob, "GET", "/v1/devices?key_id=1A2B3C4D")).empty());
  CHECK(DeviceIds(v.As(bob, "GET", "/v1/devices?key_id=9F8E7D6C")) == Ids{"win2"});
  // At most one filter; a malformed ID; the mdm does not list.
  r = v.As(helpdesk, "GET", "/v1/devices?key_id=1A2B3C4D&owner=alice@example.com");
  CHECK(r.status == 400);
  CHECK(ErrCode(r) == "invalid_request");
  r = v.As(helpdesk, "GET", "/v1/devices?key_id=1A2B%20");
  CHECK(r.status == 400);
  CHECK(ErrCode(r) == "invalid_request");
  CHECK(v.Mdm("GET", "/v1/devices?key_id=1A2B3C4D").status == 403);

  // An invalid key ID is 400 and changes nothing.
  const std::string before_device = boost::json::serialize(Device(v, "win1"));
  for (const std::string& bad : {std::string("1A2B3C4D"), std::string("{1A2B3C4D-5E6F}"),
                                std::string("not a guid"), std::string(40, 'A')}) {
    INFO(bad);
    r = v.Mdm("PUT", "/v1/devices/win1/recovery-key", MdmKeyBody(kWinKey2, bad));
    CHECK(r.status == 400);
    CHECK(ErrCode(r) == "invalid_request");
  }
  r = v.Mdm("PUT", "/v1/devices/win1/recovery-key",
            R"({"recovery_key":")" + std::string(kWinKey2) + R"(","key_id":7})");
  CHECK(ErrCode(r) == "invalid_request");
  CHECK(boost::json::serialize(Device(v, "win1")) == before_device);
  r = v.Mdm("GET", "/v1/devices/win1/recovery-key/versions");
  CHECK(Json(r.body).at("versions").as_array().size() == 1);
  // The stored key opens (associated data format 2).
  r = v.As(helpdesk, "POST", "/v1/devices/win1/recovery-key/retrieve",
           R"({"reason":"locked out, ticket 9"})");
  REQUIRE(r.status == 200);
  CHECK(Json(r.body).at("recovery_key") == kWinKey);
}

}  // namespace
}  // namespace escrow::e2e
