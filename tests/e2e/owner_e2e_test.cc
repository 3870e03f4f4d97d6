#include <catch2/catch.hpp>

#include "tests/e2e/e2e_util.h"

// Issue 13's L2 and L3 through the real vaultd: an owner keeps the versions they stored
// whatever the ownership; a new owner sees only their own; a user named like a client is
// never taken for it (stored_by_kind, audit actors, limits).

namespace escrow::e2e {
namespace {

std::string Field(const boost::json::value& v, const char* name) {
  const boost::json::value* f = v.as_object().if_contains(name);
  if (f == nullptr) return "<absent>";
  if (f->is_null()) return "<null>";
  return f->is_string() ? std::string(f->as_string()) : boost::json::serialize(*f);
}

// The versions listing as `token` (or the mdm client if empty) sees it.
boost::json::array Versions(const VaultProcess& v, const std::string& token,
                            const std::string& id) {
  const std::string path = "/v1/devices/" + id + "/recovery-key/versions";
  const HttpResult r = token.empty() ? v.Mdm("GET", path) : v.As(token, "GET", path);
  INFO(r.body);
  REQUIRE(r.status == 200);
  return Json(r.body).at("versions").as_array();
}

// Every audit record, oldest first.
boost::json::array Audit(const VaultProcess& v) {
  const HttpResult r = v.As(v.Token("root@example.com", "--roles admin"), "GET",
                            "/v1/audit?limit=1000");
  INFO(r.body);
  REQUIRE(r.status == 200);
  return Json(r.body).at("records").as_array();
}

std::string Retrieve(const VaultProcess& v, const std::string& token, const std::string& id,
                     const std::string& body, int want_status, const std::string& want_code = "") {
  const HttpResult r = v.As(token, "POST", "/v1/devices/" + id + "/recovery-key/retrieve", body);
  INFO(r.body);
  CHECK(r.status == want_status);
  if (!want_code.empty()) CHECK(ErrCode(r) == want_code);
  if (r.status != 200) return {};
  return Field(Json(r.body), "recovery_key");
}

TEST_CASE("An owner keeps their key when the mdm flips the device between corporate and "
          "personal, and helpdesk is judged by each version's recorded ownership (L2)",
          "[e2e][policy][owner]") {
  VaultProcess v;
  REQUIRE(v.Start());
  const std::string alice = v.Token("alice@example.com");
  const std::string helpdesk = v.Token("hd@example.com", "--roles helpdesk");
  v.Enrol("mac1", "alice@example.com", "corporate");
  REQUIRE(v.As(alice, "PUT", "/v1/devices/mac1/recovery-key", KeyBody(kMacKey1, kMacKey1))
              .status == 200);

  // corporate -> personal, same owner: version 1 is still alice's.
  v.Enrol("mac1", "alice@example.com", "personal");
  HttpResult d = v.As(alice, "GET", "/v1/devices/mac1");
  REQUIRE(d.status == 200);
  CHECK(Field(Json(d.body), "has_recovery_key") == "true");
  CHECK(Field(Json(d.body), "key_version") == "1");
  CHECK(Retrieve(v, alice, "mac1", "{}", 200) == kMacKey1);

  // A new key stored while personal, then personal -> corporate: version 2 is still alice's,
  // and never helpdesk's, because it was stored as personal.
  REQUIRE(v.As(alice, "PUT", "/v1/devices/mac1/recovery-key", KeyBody(kMacKey2, kMacKey2))
              .status == 200);
  v.Enrol("mac1", "alice@example.com", "corporate");
  CHECK(Retrieve(v, alice, "mac1", "{}", 200) == kMacKey2);
  Retrieve(v, helpdesk, "mac1", R"({"reason":"ticket 13"})", 403, "personal_device");
  Retrieve(v, helpdesk, "mac1", R"({"reason":"ticket 13","version":2})", 403, "personal_device");
  // Version 1 was stored as corporate: helpdesk may have it, with a reason.
  CHECK(Retrieve(v, helpdesk, "mac1", R"({"reason":"ticket 13","version":1})", 200) == kMacKey1);
  CHECK(v.Stop() == 0);
}

TEST_CASE("A user whose sub is a client's name is never taken for that client: stored_by_kind, "
          "audit actors and limits (L3)",
          "[e2e][policy][owner]") {
  VaultProcess v;
  REQUIRE(v.Start());
  const std::string user_mdm = v.Token("mdm");
  v.Enrol("mac1", "mdm", "corporate");
  REQUIRE(v.As(user_mdm, "PUT", "/v1/devices/mac1/recovery-key", KeyBody(kMacKey1, kMacKey1))
              .status == 200);
  REQUIRE(v.Mdm("PUT", "/v1/devices/mac1/recovery-key",
                std::string(R"({"recovery_key":")") + kMacKey2 + "\"}")
              .status == 200);

  // stored_by stays the bare name; stored_by_kind tells them apart.
  const boost::json::array versions = Versions(v, user_mdm, "mac1");
  REQUIRE(versions.size() == 2);
  CHECK(Field(versions[0], "stored_by") == "mdm");
  CHECK(Field(versions[0], "stored_by_kind") == "user");
  CHECK(Field(versions[1], "stored_by") == "mdm");
  CHECK(Field(versions[1], "stored_by_kind") == "client");

  // The user's retrievals spend the user's limit (10 a minute), not the client's.
  for (int i = 0; i < 10; ++i) Retrieve(v, user_mdm, "mac1", "{}", 200);
  Retrieve(v, user_mdm, "mac1", "{}", 429, "rate_limited");
  const HttpResult by_client = v.Mdm("POST", "/v1/devices/mac1/recovery-key/retrieve", "{}");
  CHECK(by_client.status == 403);  // the mdm may not retrieve: refused by policy, not throttled
  CHECK(ErrCode(by_client) == "forbidden");

  // The audit names each principal with its kind.
  int user_stores = 0, client_stores = 0, user_throttled = 0, client_throttled = 0, bare = 0;
  for (const boost::json::value& rec : Audit(v)) {
    const std::string actor = Field(rec, "actor");
    const std::string action = Field(rec, "action");
    bare += actor == "mdm";
    user_stores += actor == "user:mdm" && action == "key.store" && Field(rec, "role") == "user";
    client_stores += actor == "client:mdm" && action == "key.store" && Field(rec, "role") == "mdm";
    user_throttled += actor == "user:mdm" && action == "rate_limited";
    client_throttled += actor == "client:mdm" && action == "rate_limited";
  }
  CHECK(bare == 0);
  CHECK(user_stores == 1);
  CHECK(client_stores == 1);
  CHECK(user_throttled == 1);
  CHECK(client_throttled == 0);

  // A version stored before the kind was recorded (schema 5) shows it as null.
  REQUIRE(v.Stop() == 0);
  REQUIRE(Sh("sqlite3 " + Quote(v.state() + "/vault.db") +
             " \"UPDATE key_versions SET stored_by_kind = NULL WHERE version = 1\"") == 0);
  REQUIRE(v.Start());
  const boost::json::array after = Versions(v, "", "mac1");
  REQUIRE(after.size() == 2);
  CHECK(Field(after[0], "stored_by") == "mdm");
  CHECK(Field(after[0], "stored_by_kind") == "<null>");
  CHECK(Field(after[1], "stored_by_kind") == "client");
  CHECK(v.Stop() == 0);
}

TEST_CASE("After an owner change, the new owner's listing shows only the versions stored under "
          "them - roles still see every version (L3)",
          "[e2e][policy][owner]") {
  VaultProcess v;
  REQUIRE(v.Start());
  const std::string alice = v.Token("alice@example.com");
  const std::string bob = v.Token("bob@example.com");
  const std::string auditor = v.Token("aud@example.com", "--roles auditor");
  v.Enrol("mac1", "alice@example.com", "corporate");
  REQUIRE(v.As(alice, "PUT", "/v1/devices/mac1/recovery-key", KeyBody(kMacKey1, kMacKey1))
              .status == 200);
  v.Enrol("mac1", "bob@example.com", "corporate");

  CHECK(Versions(v, bob, "mac1").empty());
  REQUIRE(v.As(bob, "PUT", "/v1/devices/mac1/recovery-key", KeyBody(kMacKey2, kMacKey2))
              .status == 200);
  const boost::json::array mine = Versions(v, bob, "mac1");
  REQUIRE(mine.size() == 1);
  CHECK(Field(mine[0], "version") == "2");
  CHECK(Field(mine[0], "stored_by") == "bob@example.com");
  CHECK(Versions(v, auditor, "mac1").size() == 2);
  CHECK(Versions(v, "", "mac1").size() == 2);
  CHECK(v.As(alice, "GET", "/v1/devices/mac1/recovery-key/versions").status == 404);
  CHECK(v.Stop() == 0);
}

}  // namespace
}  // namespace escrow::e2e
