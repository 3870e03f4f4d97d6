// Issue 13, M4: state a database writer changes is caught, through the real vaultd. Each edit
// is made with sqlite3 on the live database, as someone with write access to the file would
// (the append-only triggers dropped first where the audit table is touched). Before the state
// record, each ended in a stale key with 200 or a cleared rotation.
#include <catch2/catch.hpp>

#include "tests/e2e/e2e_util.h"

namespace escrow::e2e {
namespace {

void Edit(const VaultProcess& v, const std::string& sql) {
  const std::string cmd =
      "sqlite3 -cmd '.timeout 10000' " + Quote(v.state() + "/vault.db") + " " + Quote(sql);
  REQUIRE(Sh(cmd) == 0);
}

void RequireIntegrityError(const HttpResult& r) {
  INFO(r.body);
  CHECK(r.status == 500);
  CHECK(ErrCode(r) == "integrity_error");
  CHECK(r.body.find(kMacKey1) == std::string::npos);
  CHECK(r.body.find(kMacKey2) == std::string::npos);
}

struct TwoVersions {
  VaultProcess v;
  std::string alice;
  std::string helpdesk;
  TwoVersions() {
    REQUIRE(v.Start());
    v.Enrol("mac1", "alice@example.com", "corporate");
    alice = v.Token("alice@example.com");
    helpdesk = v.Token("hd@example.com", "--roles helpdesk");
    REQUIRE(
        v.As(alice, "PUT", "/v1/devices/mac1/recovery-key", KeyBody(kMacKey1, kMacKey1)).status ==
        200);
    REQUIRE(
        v.As(alice, "PUT", "/v1/devices/mac1/recovery-key", KeyBody(kMacKey2, kMacKey2)).status ==
        200);
  }
  HttpResult Retrieve() const {
    return v.As(helpdesk, "POST", "/v1/devices/mac1/recovery-key/retrieve",
                R"({"reason":"user locked out, ticket 9"})");
  }
};

TEST_CASE("Versions flipped between active and superseded release nothing", "[e2e][state_edit]") {
  TwoVersions t;
  Edit(t.v,
       "UPDATE key_versions SET state = 'superseded' WHERE device_id = 'mac1' AND version = 2; "
       "UPDATE key_versions SET state = 'active' WHERE device_id = 'mac1' AND version = 1;");
  RequireIntegrityError(t.Retrieve());
  RequireIntegrityError(t.v.As(t.alice, "POST", "/v1/devices/mac1/recovery-key/retrieve", "{}"));
  // The refusal is audited as an integrity failure.
  const HttpResult audit =
      t.v.As(t.v.Token("aud@example.com", "--roles auditor"), "GET", "/v1/audit?device_id=mac1");
  REQUIRE(audit.status == 200);
  CHECK_THAT(audit.body, Catch::Contains("integrity_error"));
}

TEST_CASE(
    "Burned marks and the pending flag cleared are caught at the next store, check-in "
    "and release",
    "[e2e][state_edit]") {
  TwoVersions t;
  REQUIRE(t.Retrieve().status == 200);  // K2 seen: burned, rotation pending
  Edit(t.v,
       "UPDATE key_versions SET burned = 0 WHERE device_id = 'mac1'; "
       "UPDATE devices SET rotation_pending = 0 WHERE id = 'mac1';");
  // Storing the seen key again must not pass as a fresh key that clears the rotation.
  RequireIntegrityError(
      t.v.As(t.alice, "PUT", "/v1/devices/mac1/recovery-key", KeyBody(kMacKey2, kMacKey2)));
  HttpResult r = t.v.Mdm("POST", "/v1/devices/mac1/checkin", "{}");
  INFO(r.body);
  CHECK(r.status == 500);
  CHECK(ErrCode(r) == "integrity_error");
  RequireIntegrityError(t.Retrieve());

  SECTION("only the flag: caught as well") {
    Edit(t.v, "UPDATE key_versions SET burned = 1 WHERE device_id = 'mac1' AND version = 2;");
    RequireIntegrityError(t.Retrieve());
  }
}

TEST_CASE("A state record rolled back to an older copy is caught by the audit record after it",
          "[e2e][state_edit]") {
  TwoVersions t;
  Edit(t.v, "CREATE TABLE saved AS SELECT * FROM device_states;");
  REQUIRE(t.Retrieve().status == 200);  // burns K2 and sets the rotation
  // Put back the MACed record from before the release, and the rows to match it.
  Edit(t.v,
       "DELETE FROM device_states; INSERT INTO device_states SELECT * FROM saved; "
       "UPDATE key_versions SET burned = 0 WHERE device_id = 'mac1'; "
       "UPDATE devices SET rotation_pending = 0 WHERE id = 'mac1';");
  RequireIntegrityError(t.Retrieve());
  RequireIntegrityError(
      t.v.As(t.alice, "PUT", "/v1/devices/mac1/recovery-key", KeyBody(kMacKey2, kMacKey2)));
}

TEST_CASE("An emptied audit table releases nothing, and vaultd refuses to start on it",
          "[e2e][state_edit]") {
  TwoVersions t;
  Edit(t.v, "DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete; DELETE FROM audit;");
  // Refused: the state record names an audit record that is gone (integrity_error), and the
  // refusal itself cannot be chained to a trail that went back (503): either way, no key.
  const HttpResult r = t.Retrieve();
  INFO(r.body);
  CHECK(r.status >= 500);
  CHECK(r.body.find(kMacKey2) == std::string::npos);
  REQUIRE(t.v.Stop() == 0);
  CHECK_FALSE(t.v.Start());
  CHECK(t.v.start_exit_status() != 0);
  CHECK_THAT(t.v.Log(), Catch::Contains("the audit trail is empty"));
}

TEST_CASE("An older copy of the whole database is refused at start until an operator accepts "
          "it, audited with both heads",
          "[e2e][state_edit][checkpoint]") {
  TwoVersions t;
  const std::string db = t.v.state() + "/vault.db";
  const std::string old = t.v.tmp() + "/old.db";
  REQUIRE(Sh("sqlite3 " + Quote(db) + " " + Quote(".backup " + old)) == 0);
  // K2 is seen after the copy: the release's head goes to the token first.
  REQUIRE(t.Retrieve().status == 200);
  REQUIRE(t.v.Stop() == 0);
  REQUIRE(Sh("cp " + Quote(old) + " " + Quote(db) + " && rm -f " + Quote(db + "-wal") + " " +
             Quote(db + "-shm")) == 0);
  CHECK_FALSE(t.v.Start());
  CHECK(t.v.start_exit_status() != 0);
  CHECK_THAT(t.v.Log(), Catch::Contains("before the token's checkpoint"));
  CHECK_THAT(t.v.Log(), Catch::Contains("accept-head"));

  const std::string conf = Quote(t.v.state() + "/vault.conf");
  std::string out;
  CHECK(Sh(Quote(VaultctlPath()) + " audit accept-head --config " + conf + " 2>&1", &out) == 2);
  REQUIRE(Sh(Quote(VaultctlPath()) + " audit accept-head --config " + conf + " --yes", &out) == 0);
  CHECK_THAT(out, Catch::Contains("token checkpoint before: "));
  REQUIRE(t.v.Start());
  const std::string auditor = t.v.Token("aud@example.com", "--roles auditor");
  const HttpResult audit = t.v.As(auditor, "GET", "/v1/audit?limit=1000");
  REQUIRE(audit.status == 200);
  CHECK_THAT(audit.body, Catch::Contains("ceremony.accept_head"));
  CHECK_THAT(audit.body, Catch::Contains("previous_checkpoint"));
  CHECK_THAT(audit.body, Catch::Contains("accepted_head"));
}

TEST_CASE("GET /v1/audit/verify takes expect_head as audit verify does", "[e2e][checkpoint]") {
  TwoVersions t;
  const std::string auditor = t.v.Token("aud@example.com", "--roles auditor");
  HttpResult r = t.v.As(auditor, "GET", "/v1/audit/verify");
  REQUIRE(r.status == 200);
  const boost::json::value v = Json(r.body);
  const std::string head = std::to_string(v.at("head").at("seq").to_number<std::int64_t>()) + ":" +
                           std::string(v.at("head").at("hash").as_string());
  r = t.v.As(auditor, "GET", "/v1/audit/verify?expect_head=" + head);
  REQUIRE(r.status == 200);
  CHECK(Json(r.body).at("ok").as_bool());
  // A head the vault never had at that sequence, and one beyond its end, fail the report.
  const std::string other = head.substr(0, head.find(':') + 1) + std::string(64, 'a');
  r = t.v.As(auditor, "GET", "/v1/audit/verify?expect_head=" + other);
  REQUIRE(r.status == 200);
  CHECK_FALSE(Json(r.body).at("ok").as_bool());
  r = t.v.As(auditor, "GET", "/v1/audit/verify?expect_head=99999:" + std::string(64, 'b'));
  REQUIRE(r.status == 200);
  CHECK_FALSE(Json(r.body).at("ok").as_bool());
  r = t.v.As(auditor, "GET", "/v1/audit/verify?expect_head=12:XYZ");
  CHECK(r.status == 400);
  CHECK(ErrCode(r) == "invalid_request");
}

}  // namespace
}  // namespace escrow::e2e
