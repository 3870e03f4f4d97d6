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

TEST_CASE("An access request approved by editing the database releases nothing",
          "[e2e][state_edit][access_requests]") {
  VaultProcess v;
  Configure(v, "approvals", R"({ roles = ["helpdesk"], ttl_seconds = 600 })");
  REQUIRE(v.Start());
  v.Enrol("mac1", "alice@example.com", "corporate");
  REQUIRE(v.Mdm("PUT", "/v1/devices/mac1/recovery-key", KeyBody(kMacKey1, kMacKey1)).status ==
          200);
  const std::string hd = v.Token("hd@example.com", "--roles helpdesk");
  const std::string ap = v.Token("ap@example.com", "--roles approver");
  auto request = [&] {
    const HttpResult r = v.As(hd, "POST", "/v1/devices/mac1/recovery-key/access-requests",
                              R"({"reason":"ticket 5"})");
    REQUIRE(r.status == 201);
    return std::string(Json(r.body).at("id").as_string());
  };
  auto retrieve = [&](const std::string& rid) {
    return v.As(hd, "POST", "/v1/devices/mac1/recovery-key/retrieve",
                R"({"reason":"ticket 5","access_request":")" + rid + R"("})");
  };
  const std::string genuine = request();
  REQUIRE(v.As(ap, "POST", "/v1/access-requests/" + genuine + "/approve", "{}").status == 200);
  // The helpdesk user approves their own request in the file: with a made-up MAC, and with
  // the MAC of the genuine approval copied over.
  const std::string made_up = request();
  Edit(v, "UPDATE access_requests SET state = 'approved', approver = 'user:ap@example.com', "
          "decided_ms = created_ms, approval_mac = randomblob(32), approval_key_version = 1 "
          "WHERE id = '" + made_up + "'");
  RequireIntegrityError(retrieve(made_up));
  const std::string copied = request();
  Edit(v, "UPDATE access_requests SET (state, approver, decided_ms, approval_mac, "
          "approval_key_version) = (SELECT state, approver, decided_ms, approval_mac, "
          "approval_key_version FROM access_requests WHERE id = '" + genuine + "') "
          "WHERE id = '" + copied + "'");
  RequireIntegrityError(retrieve(copied));
  // The genuine approval still releases, once.
  CHECK(retrieve(genuine).status == 200);
  CHECK(retrieve(genuine).status == 409);
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
