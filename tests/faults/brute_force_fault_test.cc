#include <catch2/catch.hpp>

#include "tests/faults/fault_util.h"

namespace escrow::faults {
namespace {

void NoKeyIn(const HttpResult& r) {
  INFO(r.body);
  CHECK(r.body.find("\"recovery_key\"") == std::string::npos);
}

// The audit records of `action` whose actor is `actor` (any actor if empty).
std::vector<boost::json::object> AuditOf(const VaultProcess& v, const std::string& actor,
                                         const std::string& action) {
  const HttpResult r = v.As(v.Token("audrey", "--roles auditor"), "GET", "/v1/audit?limit=1000");
  REQUIRE(r.status == 200);
  std::vector<boost::json::object> out;
  const boost::json::value page = Json(r.body);
  for (const boost::json::value& rec : page.at("records").as_array()) {
    const boost::json::object& o = rec.as_object();
    const auto* a = o.if_contains("actor");
    const auto* act = o.if_contains("action");
    if (a != nullptr && act != nullptr && a->is_string() && act->is_string() &&
        (actor.empty() || a->as_string() == actor) && act->as_string() == action) {
      out.push_back(o);
    }
  }
  return out;
}

TEST_CASE("A user hammering with a bad token is throttled and audited once, while another user "
          "of the same frontend is served",
          "[faults][bruteforce]") {
  VaultProcess v;
  SetConf(v.state() + "/vault.conf", "limits", "failed_auth", "{ count = 5, window_seconds = 60 }");
  REQUIRE(v.Start());
  const std::string bob = v.Token("bob");
  v.Enrol("bob-mac", "bob", "personal");
  REQUIRE(v.As(bob, "PUT", "/v1/devices/bob-mac/recovery-key",
               e2e::KeyBody(MacKey(1), MacKey(1))).status == 200);

  // Alice's frontend session presents a forged token (signed by a key the vault does not
  // trust) again and again, through the same portal certificate as Bob.
  const std::string forged = e2e::SignHs256(R"({"alg":"HS256","typ":"JWT"})",
                                            R"({"sub":"alice","exp":4102444800})", "guess");
  HttpResult r;
  int unauthenticated = 0;
  for (int i = 0; i < 12; ++i) {
    r = v.As(forged, "POST", "/v1/devices/bob-mac/recovery-key/retrieve", "{}");
    if (r.status == 401) ++unauthenticated;
    if (r.status == 429) break;
  }
  CHECK(unauthenticated == 5);
  REQUIRE(r.status == 429);
  CHECK(ErrCode(r) == "rate_limited");
  REQUIRE(r.headers.count("retry-after") == 1);
  CHECK(std::stoi(r.headers["retry-after"]) >= 1);
  CHECK(std::stoi(r.headers["retry-after"]) <= 60);
  NoKeyIn(r);
  // More denials in the window only count.
  CHECK(v.As(forged, "GET", "/v1/devices?owner=me").status == 429);

  // Bob, same portal certificate, good token: served.
  r = v.As(bob, "POST", "/v1/devices/bob-mac/recovery-key/retrieve", "{}");
  INFO(r.body);
  REQUIRE(r.status == 200);
  CHECK(Json(r.body).at("recovery_key").as_string() == MacKey(1));

  // Audited once for the window, with the count.
  // The actor is the frontend's certificate: the user behind a bad token is unknown.
  const auto records = AuditOf(v, "", "rate_limited");
  REQUIRE(records.size() == 1);
  const std::string detail(records[0].at("detail").as_string());
  CHECK(detail.find("failed_auth") != std::string::npos);
  CHECK(detail.find("6 attempts") != std::string::npos);
}

TEST_CASE("Repeated denied retrievals by one user are throttled and audited once, without "
          "locking out other users",
          "[faults][bruteforce]") {
  VaultProcess v;
  SetConf(v.state() + "/vault.conf", "limits", "retrieve_per_user",
          "{ count = 4, window_seconds = 60 }");
  REQUIRE(v.Start());
  const std::string bob = v.Token("bob");
  const std::string mallory = v.Token("mallory");
  v.Enrol("bob-mac", "bob", "personal");
  REQUIRE(v.As(bob, "PUT", "/v1/devices/bob-mac/recovery-key",
               e2e::KeyBody(MacKey(2), MacKey(2))).status == 200);

  HttpResult r;
  int denied = 0;
  for (int i = 0; i < 10; ++i) {
    r = v.As(mallory, "POST", "/v1/devices/bob-mac/recovery-key/retrieve", "{}");
    if (r.status == 404) ++denied;
    if (r.status == 429) break;
  }
  CHECK(denied == 4);  // every attempt counts, denied ones too
  REQUIRE(r.status == 429);
  REQUIRE(r.headers.count("retry-after") == 1);
  NoKeyIn(r);
  CHECK(v.As(mallory, "POST", "/v1/devices/bob-mac/recovery-key/retrieve", "{}").status == 429);

  r = v.As(bob, "POST", "/v1/devices/bob-mac/recovery-key/retrieve", "{}");
  REQUIRE(r.status == 200);
  CHECK(Json(r.body).at("recovery_key").as_string() == MacKey(2));

  const auto records = AuditOf(v, "user:mallory", "rate_limited");
  REQUIRE(records.size() == 1);
  CHECK(std::string(records[0].at("detail").as_string()).find("5 attempts") != std::string::npos);
}

}  // namespace
}  // namespace escrow::faults
