#include "api/routes.h"

#include <catch2/catch.hpp>

namespace escrow::api {
namespace {

TEST_CASE("MatchRoute finds every endpoint of API.md", "[api][routes]") {
  CHECK(MatchRoute("GET", "/v1/health").id == RouteId::kHealth);
  CHECK(MatchRoute("GET", "/v1/devices").id == RouteId::kListDevices);
  CHECK(MatchRoute("GET", "/v1/devices/mac1").id == RouteId::kGetDevice);
  CHECK(MatchRoute("PUT", "/v1/devices/mac1").id == RouteId::kPutDevice);
  CHECK(MatchRoute("POST", "/v1/devices/mac1/checkin").id == RouteId::kCheckIn);
  CHECK(MatchRoute("PUT", "/v1/devices/mac1/recovery-key").id == RouteId::kStoreKey);
  CHECK(MatchRoute("PUT", "/v1/devices/mac1/recovery-key/cms").id == RouteId::kStoreCmsKey);
  CHECK(MatchRoute("POST", "/v1/devices/m/recovery-key/retrieve").id == RouteId::kRetrieveKey);
  CHECK(MatchRoute("POST", "/v1/devices/m/recovery-key/verify").id == RouteId::kVerifyKey);
  CHECK(MatchRoute("POST", "/v1/devices/m/recovery-key/rotate").id == RouteId::kRotateKey);
  CHECK(MatchRoute("POST", "/v1/devices/m/recovery-key/rotation-command").id ==
        RouteId::kRotationCommand);
  CHECK(MatchRoute("GET", "/v1/devices/m/recovery-key/versions").id == RouteId::kListVersions);
  CHECK(MatchRoute("GET", "/v1/devices/m/recovery-key/accesses").id == RouteId::kListAccesses);
  CHECK(MatchRoute("GET", "/v1/audit").id == RouteId::kListAudit);
  CHECK(MatchRoute("GET", "/v1/audit/verify").id == RouteId::kVerifyAudit);
  CHECK(MatchRoute("GET", "/v1/audit/checkpoints").id == RouteId::kListCheckpoints);
  CHECK(MatchRoute("GET", "/v1/metrics").id == RouteId::kMetrics);
}

TEST_CASE("MatchRoute extracts the device id and the template", "[api][routes]") {
  RouteMatch m = MatchRoute("POST", "/v1/devices/a.b-c_9/recovery-key/retrieve");
  CHECK(m.device_id == "a.b-c_9");
  CHECK(m.path_template == "/v1/devices/{id}/recovery-key/retrieve");
}

TEST_CASE("MatchRoute finds dual control's endpoints and the access request id",
          "[api][routes]") {
  CHECK(MatchRoute("POST", "/v1/devices/m/recovery-key/access-requests").id ==
        RouteId::kRequestAccess);
  CHECK(MatchRoute("GET", "/v1/access-requests").id == RouteId::kListAccessRequests);
  RouteMatch m = MatchRoute("POST", "/v1/access-requests/0123abcd/approve");
  CHECK(m.id == RouteId::kApproveAccessRequest);
  CHECK(m.access_request_id == "0123abcd");
  CHECK(m.device_id.empty());
  CHECK(m.path_template == "/v1/access-requests/{rid}/approve");
  m = MatchRoute("POST", "/v1/access-requests/0123abcd/deny");
  CHECK(m.id == RouteId::kDenyAccessRequest);
  CHECK(m.access_request_id == "0123abcd");
  m = MatchRoute("GET", "/v1/access-requests/0123abcd/approve");
  CHECK(m.id == RouteId::kNone);
  CHECK(m.allow == "POST");
  CHECK_FALSE(MatchRoute("POST", "/v1/access-requests//approve").path_known);
  CHECK_FALSE(MatchRoute("POST", "/v1/access-requests/x/approve/more").path_known);
}

TEST_CASE("MatchRoute tells unknown paths from wrong methods", "[api][routes]") {
  RouteMatch m = MatchRoute("DELETE", "/v1/devices/mac1");
  CHECK(m.id == RouteId::kNone);
  CHECK(m.path_known);
  CHECK(m.allow == "GET, PUT");
  m = MatchRoute("GET", "/v1/devices/mac1/recovery-key");
  CHECK(m.id == RouteId::kNone);
  CHECK(m.allow == "PUT");
  for (const char* path : {"/", "/v2/health", "/v1/devices/", "/v1/devices//checkin",
                           "/v1/health/", "/v1/devices/a/b", "", "v1/health", "/v1",
                           "//v1/health", "/v1/devices/mac1/", "/v1/audit/verify/x",
                           "/v1/devices/m/recovery-key/retrieve/"}) {
    CAPTURE(path);
    CHECK_FALSE(MatchRoute("GET", path).path_known);
  }
}

TEST_CASE("The route table carries each endpoint's body rule and handler", "[api][routes]") {
  for (const RouteDef& r : RouteTable()) {
    CAPTURE(r.path, r.method);
    // API.md: PUT and POST take a JSON body; GETs do not.
    CHECK(r.takes_body == (r.method != "GET"));
    // Only /v1/health is answered before dispatch.
    CHECK((r.handler == nullptr) == (r.id == RouteId::kHealth));
    const RouteMatch m = MatchRoute(r.method, r.path);
    CHECK(m.id == r.id);
    CHECK(m.def == &r);
    CHECK(RouteTemplate(r.id) == r.path);
  }
  CHECK(MatchRoute("DELETE", "/v1/devices/mac1").def == nullptr);
}

TEST_CASE("SplitTarget cuts a request target at its first '?'", "[api][routes]") {
  CHECK(SplitTarget("/v1/health").path == "/v1/health");
  CHECK(SplitTarget("/v1/health").query.empty());
  const TargetParts t = SplitTarget("/v1/audit?after=3&q=a?b");
  CHECK(t.path == "/v1/audit");
  CHECK(t.query == "after=3&q=a?b");
  CHECK(SplitTarget("/v1/devices?").query.empty());
}

}  // namespace
}  // namespace escrow::api
