// Overdue rotations against the real vaultd (API.md, "Closing the loop after a key was seen"):
// a retrieval leaves a rotation pending; past rotation_deadline_seconds it is overdue on the
// device, in the gauge and in the listing, and the sweep writes exactly one rotation_overdue
// audit record for it, also across a restart; a new key clears it, a seen key does not.
#include <chrono>
#include <string>
#include <thread>

#include <catch2/catch.hpp>

#include "tests/e2e/e2e_util.h"

namespace escrow::e2e {
namespace {

constexpr const char* kKey1 = "OVRA-2345-6789-ABCD-EFGH-JKLM";
constexpr const char* kKey2 = "OVRB-2345-6789-ABCD-EFGH-JKLM";

// How many rotation_overdue records the audit trail holds for `id`.
int OverdueRecords(const VaultProcess& v, const std::string& auditor, const std::string& id) {
  HttpResult r = v.As(auditor, "GET", "/v1/audit?device_id=" + id + "&limit=1000");
  REQUIRE(r.status == 200);
  int n = 0;
  const boost::json::value page = Json(r.body);
  for (const boost::json::value& rec : page.at("records").as_array()) {
    if (rec.at("action") == "rotation_overdue") ++n;
  }
  return n;
}

std::string Gauge(const VaultProcess& v) {
  HttpResult r = v.Mdm("GET", "/v1/metrics");
  REQUIRE(r.status == 200);
  const std::size_t at = r.body.find("\nvault_rotations_overdue ");
  if (at == std::string::npos) return "";
  const std::size_t start = at + 25;
  return r.body.substr(start, r.body.find('\n', start) - start);
}

// Waits (up to 20 s) until `done` holds.
template <class Fn>
bool Eventually(Fn done) {
  for (int i = 0; i < 100; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return done();
}

TEST_CASE("vaultd notes an overdue rotation once, shows it, and clears it with a new key",
          "[e2e][overdue]") {
  VaultProcess v;
  Configure(v, "rotation_deadline_seconds", "2");
  Configure(v, "sweep_interval_seconds", "1");
  REQUIRE(v.Start());
  const std::string alice = v.Token("alice@example.com");
  const std::string auditor = v.Token("aud@example.com", "--roles auditor");
  v.Enrol("mac1", "alice@example.com", "corporate");
  v.Enrol("mac2", "bob@example.com", "corporate");
  REQUIRE(v.Mdm("PUT", "/v1/devices/mac1/recovery-key", KeyBody(kKey1, kKey1)).status == 200);
  HttpResult r = v.As(alice, "GET", "/v1/devices/mac1");
  REQUIRE(r.status == 200);
  CHECK(Json(r.body).at("rotation_requested_at").is_null());
  CHECK(Json(r.body).at("rotation_overdue") == false);

  // The owner sees the key: a rotation is pending from now.
  REQUIRE(v.As(alice, "POST", "/v1/devices/mac1/recovery-key/retrieve", "{}").status == 200);
  r = v.As(alice, "GET", "/v1/devices/mac1");
  REQUIRE(r.status == 200);
  const boost::json::value requested = Json(r.body).at("rotation_requested_at");
  CHECK(requested.is_string());

  // Past the deadline: one record, the device overdue, the gauge 1.
  REQUIRE(Eventually([&] { return OverdueRecords(v, auditor, "mac1") == 1; }));
  r = v.As(alice, "GET", "/v1/devices/mac1");
  CHECK(Json(r.body).at("rotation_overdue") == true);
  CHECK(Json(r.body).at("rotation_requested_at") == requested);
  CHECK(Eventually([&] { return Gauge(v) == "1"; }));
  CHECK(OverdueRecords(v, auditor, "mac2") == 0);
  // Listed to the auditor (the one overdue device), refused to the owner, one filter only.
  r = v.As(auditor, "GET", "/v1/devices?rotation=overdue&limit=10");
  REQUIRE(r.status == 200);
  const boost::json::value listed = Json(r.body);
  REQUIRE(listed.at("devices").as_array().size() == 1);
  CHECK(listed.at("devices").as_array()[0].at("id") == "mac1");
  CHECK(listed.at("next_after").is_null());
  CHECK(ErrCode(v.As(alice, "GET", "/v1/devices?rotation=overdue")) == "forbidden");
  CHECK(ErrCode(v.As(auditor, "GET", "/v1/devices?rotation=late")) == "invalid_request");
  CHECK(ErrCode(v.As(auditor, "GET", "/v1/devices?rotation=overdue&owner=bob%40example.com")) ==
        "invalid_request");

  // Later sweeps, and a restart, add nothing.
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  CHECK(OverdueRecords(v, auditor, "mac1") == 1);
  REQUIRE(v.Stop() == 0);
  REQUIRE(v.Start());
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  CHECK(OverdueRecords(v, auditor, "mac1") == 1);
  CHECK(Gauge(v) == "1");

  // A seen key stored again leaves it pending; a new key clears it.
  REQUIRE(v.Mdm("PUT", "/v1/devices/mac1/recovery-key", KeyBody(kKey1, kKey1)).status == 200);
  r = v.As(alice, "GET", "/v1/devices/mac1");
  CHECK(Json(r.body).at("rotation_overdue") == true);
  REQUIRE(v.Mdm("PUT", "/v1/devices/mac1/recovery-key", KeyBody(kKey2, kKey2)).status == 200);
  r = v.As(alice, "GET", "/v1/devices/mac1");
  CHECK(Json(r.body).at("rotation_pending") == false);
  CHECK(Json(r.body).at("rotation_requested_at").is_null());
  CHECK(Json(r.body).at("rotation_overdue") == false);
  CHECK(Eventually([&] { return Gauge(v) == "0"; }));
  CHECK(OverdueRecords(v, auditor, "mac1") == 1);
  r = v.As(auditor, "GET", "/v1/devices?rotation=overdue");
  REQUIRE(r.status == 200);
  CHECK(Json(r.body).at("devices").as_array().empty());
}

}  // namespace
}  // namespace escrow::e2e
