// The first outside review's audit-trail findings, through the real vaultd: what a caller
// sends can't put invalid UTF-8 or unbounded text into the audit trail, can't grow it faster
// than a bounded rate, and a refused retrieval keeps what the caller said.

#include <catch2/catch.hpp>

#include <sstream>

#include "tests/faults/fault_util.h"
#include "tests/faults/raw_tls.h"

namespace escrow::faults {
namespace {

// Every record of /v1/audit (as an admin), oldest first; fails the test if the answer is not
// JSON (Boost.JSON refuses invalid UTF-8).
boost::json::array AuditRecords(const VaultProcess& v) {
  const std::string admin = v.Token("root", "--roles admin");
  boost::json::array out;
  std::string after = "0";
  for (;;) {
    const HttpResult r = v.As(admin, "GET", "/v1/audit?limit=1000&after=" + after);
    REQUIRE(r.status == 200);
    boost::json::error_code ec;
    boost::json::value page = boost::json::parse(r.body, ec);
    INFO(r.body.substr(0, 2000));
    REQUIRE_FALSE(ec);
    for (const auto& rec : page.at("records").as_array()) out.push_back(rec);
    const boost::json::value& next = page.at("next_after");
    if (next.is_null()) return out;
    after = std::to_string(next.to_number<std::uint64_t>());
  }
}

std::string Field(const boost::json::value& rec, const char* name) {
  const boost::json::value* v = rec.as_object().if_contains(name);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

TEST_CASE("Malformed device ids are 400 before any lookup, audited once per user and minute, "
          "and never put invalid UTF-8 into the audit trail (M3)",
          "[faults][audit][hostile]") {
  VaultProcess v;
  REQUIRE(v.Start());
  v.Enrol("mac-1", "alice", "corporate");
  const std::string alice = v.Token("alice");
  IgnoreSigpipe sigpipe;
  const TlsClientContext portal(v.CaFile(), v.ClientCert("portal"), v.ClientKey("portal"));
  TlsConn c(portal, v.port());
  REQUIRE(c.ok());
  const std::vector<std::string> ids = {
      std::string("\xff\xfe\x80zz"), std::string(300, 'a'), std::string("mac-1\xc0\xaf"),
      std::string("a%00b"), std::string("\xed\xa0\x80")};
  int invalid = 0;
  for (int round = 0; round < 10; ++round) {
    for (const std::string& id : ids) {
      for (const char* suffix : {"", "/recovery-key/versions"}) {
        REQUIRE(c.Write(HttpRequest("GET", "/v1/devices/" + id + suffix,
                                    {"Authorization: Bearer " + alice})));
        std::optional<RawResponse> r = c.Read();
        REQUIRE(r);
        INFO(r->body);
        invalid += r->status == 400 && r->body.find("\"invalid_request\"") != std::string::npos;
      }
    }
  }
  CHECK(invalid == 100);
  const HttpResult ok = v.As(alice, "GET", "/v1/devices/mac-1");
  CHECK(ok.status == 200);

  const boost::json::array records = AuditRecords(v);
  int malformed = 0;
  for (const auto& rec : records) {
    for (const char* f : {"actor", "role", "action", "device_id", "outcome", "reason", "detail"}) {
      CHECK(Field(rec, f).size() <= 1600);
    }
    CHECK(Field(rec, "device_id").size() <= 160);
    if (Field(rec, "action") == "malformed_request" && Field(rec, "actor") == "user:alice") {
      ++malformed;
      CHECK(Field(rec, "reason") == "invalid_request");
      // The first invalid id of the minute, its bytes escaped once.
      CHECK(Field(rec, "detail") == R"(invalid device id "\xff\xfe\x80zz")");
    }
  }
  CHECK(malformed == 1);  // once per principal and minute

  // audit export writes clean UTF-8 too: every line parses.
  std::string out;
  REQUIRE(Sh(Quote(e2e::VaultctlPath()) + " audit export --config " +
                 Quote(v.state() + "/vault.conf") + " --format jsonl 2>&1",
             &out) == 0);
  std::istringstream lines(out);
  std::string line;
  int n = 0;
  while (std::getline(lines, line)) {
    boost::json::error_code ec;
    (void)boost::json::parse(line, ec);
    INFO(line.substr(0, 300));
    CHECK_FALSE(ec);
    ++n;
  }
  CHECK(n >= static_cast<int>(records.size()));
}

TEST_CASE("A user without a role can't grow the audit trail faster than the per-user request "
          "limit (M3)",
          "[faults][audit][hostile][limits]") {
  VaultProcess v;
  SetConf(v.state() + "/vault.conf", "limits", "requests_per_user",
          "{ count = 30, window_seconds = 60 }");
  REQUIRE(v.Start());
  v.Enrol("mac-1", "alice", "corporate");
  const std::string bob = v.Token("bob");
  IgnoreSigpipe sigpipe;
  const TlsClientContext portal(v.CaFile(), v.ClientCert("portal"), v.ClientKey("portal"));
  TlsConn c(portal, v.port());
  REQUIRE(c.ok());
  int not_found = 0, throttled = 0;
  for (int i = 0; i < 200; ++i) {
    REQUIRE(c.Write(HttpRequest("GET", "/v1/devices/mac-1", {"Authorization: Bearer " + bob})));
    std::optional<RawResponse> r = c.Read();
    REQUIRE(r);
    not_found += r->status == 404;
    throttled += r->status == 429;
    if (r->status == 429) CHECK_THAT(r->head, Catch::Contains("Retry-After:"));
  }
  CHECK(not_found == 30);
  CHECK(throttled == 170);
  int bobs = 0;
  for (const auto& rec : AuditRecords(v)) bobs += Field(rec, "actor") == "user:bob";
  CHECK(bobs == 31);  // 30 denials and one throttling record
}

TEST_CASE("Request bodies that repeat a key are refused and change nothing (S2)",
          "[faults][hostile]") {
  VaultProcess v;
  REQUIRE(v.Start());
  const std::string dup_owner =
      R"({"serial":"C02X","name":"Mac","platform":"macos","ownership":"corporate",)"
      R"("owner":"alice","owner":"mallory","encryption_enabled":true})";
  HttpResult r = v.Mdm("PUT", "/v1/devices/mac-1", dup_owner);
  CHECK(r.status == 400);
  CHECK(ErrCode(r) == "invalid_request");
  CHECK(v.Mdm("GET", "/v1/devices/mac-1").status == 404);

  v.Enrol("mac-1", "alice", "corporate");
  const std::string alice = v.Token("alice");
  r = v.As(alice, "PUT", "/v1/devices/mac-1/recovery-key",
           R"({"recovery_key":")" + MacKey(1) + R"(","confirm_recovery_key":")" + MacKey(1) +
               R"(","recovery_key":")" + MacKey(2) + R"("})");
  CHECK(r.status == 400);
  CHECK(ErrCode(r) == "invalid_request");
  CHECK(DbVersions(DbPath(v), "mac-1") == "0");
}

TEST_CASE("A refused retrieval's audit record keeps the stated reason and the version asked for",
          "[faults][audit]") {
  VaultProcess v;
  REQUIRE(v.Start());
  v.Enrol("home-1", "alice", "personal");
  const std::string alice = v.Token("alice");
  REQUIRE(v.As(alice, "PUT", "/v1/devices/home-1/recovery-key", e2e::KeyBody(MacKey(1), MacKey(1)))
              .status == 200);
  const std::string hd = v.Token("hd", "--roles helpdesk");
  const HttpResult r = v.As(hd, "POST", "/v1/devices/home-1/recovery-key/retrieve",
                            R"({"reason":"ticket 4711, caller said \"urgent\"","version":1})");
  CHECK(r.status == 403);
  CHECK(ErrCode(r) == "personal_device");
  bool found = false;
  for (const auto& rec : AuditRecords(v)) {
    if (Field(rec, "actor") != "user:hd" || Field(rec, "outcome") != "denied") continue;
    found = true;
    CHECK(Field(rec, "reason") == "personal_device");
    CHECK_THAT(Field(rec, "detail"), Catch::Contains("asked version=1"));
    CHECK_THAT(Field(rec, "detail"),
               Catch::Contains(R"(stated reason="ticket 4711, caller said "urgent"")"));
  }
  CHECK(found);
}

}  // namespace
}  // namespace escrow::faults
