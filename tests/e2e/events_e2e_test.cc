// Events against the real vaultd (API.md "Events for owners and security teams"): a store, two
// retrievals (the owner, then helpdesk) and a requested rotation, read with the `notifier`
// client certificate that `vaultctl init --dev` makes and as an admin: their types, ids equal
// to their audit records' seqs, by_owner, no key material; the notifier refused every other
// route; paging; the event of a release there after vaultd is killed with -9; notify.conf.
#include <sys/stat.h>

#include <set>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "tests/e2e/e2e_util.h"

namespace escrow::e2e {
namespace {

HttpResult AsNotifier(const VaultProcess& v, const std::string& method, const std::string& path,
                      std::optional<std::string> body = std::nullopt) {
  Call c;
  c.method = method;
  c.path = path;
  c.who = "notifier";
  c.body = std::move(body);
  return v.Request(c);
}

// Starts vaultd with "mac1" of alice enrolled and her key stored by her; her token.
std::string StartWithStoredKey(VaultProcess& v) {
  REQUIRE(v.Start());
  const std::string alice = v.Token("alice@example.com");
  v.Enrol("mac1", "alice@example.com", "corporate");
  REQUIRE(v.As(alice, "PUT", "/v1/devices/mac1/recovery-key", KeyBody(kMacKey1, kMacKey1))
              .status == 200);
  return alice;
}

boost::json::array Events(const HttpResult& r) {
  INFO(r.body);
  REQUIRE(r.status == 200);
  return Json(r.body).at("events").as_array();
}

std::string Str(const boost::json::value& v, const char* name) {
  return std::string(v.at(name).as_string());
}

TEST_CASE("vaultd writes an event with each audit record of a store, retrieval and rotation, "
          "read by the notifier and an admin",
          "[e2e][events]") {
  VaultProcess v;
  const std::string alice = StartWithStoredKey(v);
  const std::string hd = v.Token("hd@example.com", "--roles helpdesk");
  const std::string admin = v.Token("ad@example.com", "--roles admin");
  HttpResult r = v.As(alice, "POST", "/v1/devices/mac1/recovery-key/retrieve", "{}");
  REQUIRE(r.status == 200);
  r = v.As(hd, "POST", "/v1/devices/mac1/recovery-key/retrieve", R"({"reason":"ticket 12"})");
  REQUIRE(r.status == 200);
  REQUIRE(v.As(alice, "POST", "/v1/devices/mac1/recovery-key/rotate", "{}").status == 202);

  const HttpResult notified = AsNotifier(v, "GET", "/v1/events");
  const boost::json::array events = Events(notified);
  CHECK(Json(notified.body).at("next_after").is_null());
  REQUIRE(events.size() == 4);
  CHECK(Str(events[0], "type") == "recovery_key.stored");
  CHECK(Str(events[1], "type") == "recovery_key.retrieved");
  CHECK(Str(events[2], "type") == "recovery_key.retrieved");
  CHECK(Str(events[3], "type") == "rotation.requested");
  CHECK(events[1].at("by_owner") == true);
  CHECK(events[2].at("by_owner") == false);
  CHECK(Str(events[2], "reason") == "ticket 12");
  CHECK(Str(events[2], "actor") == "user:hd@example.com");
  for (const boost::json::value& e : events) {
    CHECK(Str(e, "device_id") == "mac1");
    CHECK(Str(e, "device_name") == "Device mac1");
    CHECK(Str(e, "owner") == "alice@example.com");
  }
  // No key material, in any form the key was typed or stored.
  for (const char* secret : {kMacKey1, "ABCDEFGHIJKLMNOPQRSTUVWX", "recovery_key\""}) {
    CHECK(notified.body.find(secret) == std::string::npos);
  }

  // Ids are the audit records' seqs: same device, actor and time, outcome ok.
  const HttpResult as_admin = v.As(admin, "GET", "/v1/events");
  CHECK(Events(as_admin) == events);
  r = v.As(admin, "GET", "/v1/audit?limit=1000");
  REQUIRE(r.status == 200);
  const boost::json::array records = Json(r.body).at("records").as_array();
  for (const boost::json::value& e : events) {
    const std::int64_t id = e.at("id").to_number<std::int64_t>();
    bool found = false;
    for (const boost::json::value& rec : records) {
      if (rec.at("seq").to_number<std::int64_t>() != id) continue;
      found = true;
      CHECK(Str(rec, "outcome") == "ok");
      CHECK(Str(rec, "actor") == Str(e, "actor"));
      CHECK(Str(rec, "device_id") == Str(e, "device_id"));
      CHECK(Str(rec, "time") == Str(e, "at"));
    }
    INFO("event " << id);
    CHECK(found);
  }

  // Paging: after and limit, next_after while more follow; bad values are 400.
  const std::int64_t second = events[1].at("id").to_number<std::int64_t>();
  r = AsNotifier(v, "GET", "/v1/events?limit=2");
  REQUIRE(Events(r).size() == 2);
  CHECK(Json(r.body).at("next_after").to_number<std::int64_t>() == second);
  r = AsNotifier(v, "GET", "/v1/events?after=" + std::to_string(second) + "&limit=2");
  REQUIRE(Events(r).size() == 2);
  CHECK(Events(r)[0] == events[2]);
  CHECK(Json(r.body).at("next_after").is_null());
  for (const char* bad : {"?limit=0", "?limit=1001", "?after=x", "?after=-1",
                          "?after=99999999999999999999", "?limit="}) {
    INFO(bad);
    r = AsNotifier(v, "GET", std::string("/v1/events") + bad);
    CHECK(r.status == 400);
    CHECK(ErrCode(r) == "invalid_request");
  }
  // Users without admin or auditor may not read them.
  r = v.As(hd, "GET", "/v1/events");
  CHECK(r.status == 403);
  CHECK(ErrCode(r) == "forbidden");
  CHECK(v.As(v.Token("au@example.com", "--roles auditor"), "GET", "/v1/events").status == 200);

  // The gauge: the notifier asked after the second event, so the third is the oldest undelivered.
  r = v.Mdm("GET", "/v1/metrics");
  REQUIRE(r.status == 200);
  CHECK(r.body.find("vault_events_undelivered_oldest_seconds ") != std::string::npos);
}

TEST_CASE("vaultd refuses a notifier client every route but events", "[e2e][events]") {
  VaultProcess v;
  REQUIRE(v.Start());
  v.Enrol("mac1", "alice@example.com", "corporate");
  REQUIRE(v.Mdm("PUT", "/v1/devices/mac1/recovery-key", KeyBody(kMacKey1, kMacKey1)).status ==
          200);
  const std::vector<std::pair<std::string, std::string>> routes = {
      {"GET", "/v1/devices"},
      {"GET", "/v1/devices/mac1"},
      {"PUT", "/v1/devices/mac1"},
      {"PUT", "/v1/devices/nosuch"},
      {"POST", "/v1/devices/mac1/checkin"},
      {"PUT", "/v1/devices/mac1/recovery-key"},
      {"PUT", "/v1/devices/mac1/recovery-key/cms"},
      {"POST", "/v1/devices/mac1/recovery-key/retrieve"},
      {"POST", "/v1/devices/mac1/recovery-key/verify"},
      {"POST", "/v1/devices/mac1/recovery-key/rotate"},
      {"POST", "/v1/devices/mac1/recovery-key/rotation-command"},
      {"GET", "/v1/devices/mac1/recovery-key/versions"},
      {"GET", "/v1/devices/mac1/recovery-key/accesses"},
      {"POST", "/v1/devices/mac1/recovery-key/access-requests"},
      {"GET", "/v1/devices/mac1/escrow-certificate"},
      {"GET", "/v1/audit"},
      {"GET", "/v1/audit/verify"},
      {"GET", "/v1/metrics"},
      {"GET", "/v1/escrow-certificates"},
      {"GET", "/v1/escrow-certificates/current"},
      {"GET", "/v1/access-requests"},
      {"POST", "/v1/access-requests/" + std::string(32, 'a') + "/approve"},
      {"POST", "/v1/access-requests/" + std::string(32, 'a') + "/deny"},
  };
  for (const auto& [method, path] : routes) {
    INFO(method << " " << path);
    const bool body = method != "GET";
    const HttpResult r = AsNotifier(v, method, path, body ? std::optional<std::string>("{}")
                                                          : std::nullopt);
    CHECK(r.status == 403);
    CHECK(ErrCode(r) == "forbidden");
  }
  CHECK(AsNotifier(v, "GET", "/v1/events").status == 200);
  // Health answers anyone; an unknown path is still 404.
  CHECK(AsNotifier(v, "GET", "/v1/health").status == 200);
  CHECK(AsNotifier(v, "GET", "/v1/nosuch").status == 404);
  // A notifier with a bearer token is not a notifier.
  Call c;
  c.path = "/v1/events";
  c.who = "notifier";
  c.token = v.Token("ad@example.com", "--roles admin");
  CHECK(v.Request(c).status == 401);
}

TEST_CASE("vaultd killed with -9 right after a release keeps the release's event under its "
          "audit seq",
          "[e2e][events]") {
  VaultProcess v;
  const std::string alice = StartWithStoredKey(v);
  REQUIRE(v.As(alice, "POST", "/v1/devices/mac1/recovery-key/retrieve", "{}").status == 200);
  REQUIRE(v.Stop(9) == -1);
  REQUIRE(v.Start());
  const boost::json::array events = Events(AsNotifier(v, "GET", "/v1/events"));
  REQUIRE(events.size() == 2);
  CHECK(Str(events[1], "type") == "recovery_key.retrieved");
  const std::string admin = v.Token("ad@example.com", "--roles admin");
  const HttpResult r = v.As(admin, "GET", "/v1/audit?device_id=mac1&limit=1000");
  REQUIRE(r.status == 200);
  std::int64_t release_seq = 0;
  const boost::json::value audit = Json(r.body);
  for (const boost::json::value& rec : audit.at("records").as_array()) {
    if (Str(rec, "action") == "key.retrieve") release_seq = rec.at("seq").to_number<std::int64_t>();
  }
  CHECK(events[1].at("id").to_number<std::int64_t>() == release_seq);
}

TEST_CASE("vaultctl init --dev writes notify.conf, its secret and a notifier client",
          "[e2e][events]") {
  VaultProcess v;
  const std::string conf = testing::ReadFileBytes(v.state() + "/notify.conf");
  CHECK(conf.find("vault_url = \"https://127.0.0.1:") != std::string::npos);
  CHECK(conf.find("ca = \"" + v.CaFile() + "\"") != std::string::npos);
  CHECK(conf.find("cert = \"" + v.ClientCert("notifier") + "\"") != std::string::npos);
  CHECK(conf.find("key = \"" + v.ClientKey("notifier") + "\"") != std::string::npos);
  CHECK(conf.find("webhook_url = \"http://127.0.0.1:9099/events\"") != std::string::npos);
  CHECK(conf.find("secret_file = \"" + v.state() + "/notify.secret\"") != std::string::npos);
  CHECK(conf.find("state_dir = \"" + v.state() + "/notify\"") != std::string::npos);
  CHECK(conf.find("batch_size = 100\npoll_seconds = 5\n") != std::string::npos);
  struct stat st {};
  REQUIRE(stat((v.state() + "/notify.secret").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  CHECK(st.st_size == 64);
  REQUIRE(stat((v.state() + "/notify").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);
  const std::string vault_conf = testing::ReadFileBytes(v.state() + "/vault.conf");
  CHECK(vault_conf.find("name = 'notifier'") != std::string::npos);
  CHECK(vault_conf.find("role = 'notifier'") != std::string::npos);
}

}  // namespace
}  // namespace escrow::e2e
