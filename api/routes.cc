#include "api/routes.h"

#include <array>

#include "api/request_handler.h"

namespace escrow::api {
namespace {

// The next segment of `path` (which starts after a '/'), and the rest after its '/'.
std::string_view NextSegment(std::string_view& rest, bool& more) {
  const std::size_t slash = rest.find('/');
  std::string_view segment = rest.substr(0, slash);
  more = slash != std::string_view::npos;
  rest = more ? rest.substr(slash + 1) : std::string_view();
  return segment;
}

// True if `path` fits `pattern`, segment by segment; the {id} segment goes to `id`, the {rid}
// segment (an access request's id) to `rid`. Walks both in place: matching runs once per
// table entry for every request, so it allocates nothing.
bool PathMatches(std::string_view pattern, std::string_view path, std::string_view& id,
                 std::string_view& rid) {
  if (path.empty() || path.front() != '/' || pattern.empty() || pattern.front() != '/') {
    return false;
  }
  pattern.remove_prefix(1);
  path.remove_prefix(1);
  bool want_more = true;
  bool got_more = true;
  while (want_more && got_more) {
    const std::string_view want = NextSegment(pattern, want_more);
    const std::string_view got = NextSegment(path, got_more);
    if (got.empty()) return false;
    if (want == "{id}") {
      id = got;
    } else if (want == "{rid}") {
      rid = got;
    } else if (want != got) {
      return false;
    }
  }
  return want_more == got_more;
}

}  // namespace

// A friend of RequestHandler: the handlers are its private members.
std::span<const RouteDef> RouteTable() {
  using H = RequestHandler;
  static constexpr std::array kRoutes{
      RouteDef{"GET", "/v1/health", RouteId::kHealth, false, nullptr},
      RouteDef{"GET", "/v1/devices", RouteId::kListDevices, false, &H::ListDevices},
      RouteDef{"GET", "/v1/devices/{id}", RouteId::kGetDevice, false, &H::GetDevice},
      RouteDef{"PUT", "/v1/devices/{id}", RouteId::kPutDevice, true, &H::PutDevice},
      RouteDef{"POST", "/v1/devices/{id}/checkin", RouteId::kCheckIn, true, &H::CheckIn},
      RouteDef{"PUT", "/v1/devices/{id}/recovery-key", RouteId::kStoreKey, true, &H::StoreKey},
      RouteDef{"PUT", "/v1/devices/{id}/recovery-key/cms", RouteId::kStoreCmsKey, true,
               &H::StoreCmsKey},
      RouteDef{"POST", "/v1/devices/{id}/recovery-key/retrieve", RouteId::kRetrieveKey, true,
               &H::RetrieveKey},
      RouteDef{"POST", "/v1/devices/{id}/recovery-key/verify", RouteId::kVerifyKey, true,
               &H::VerifyKey},
      RouteDef{"POST", "/v1/devices/{id}/recovery-key/rotate", RouteId::kRotateKey, true,
               &H::RotateKey},
      RouteDef{"POST", "/v1/devices/{id}/recovery-key/rotation-command", RouteId::kRotationCommand,
               true, &H::RotationCommand},
      RouteDef{"GET", "/v1/devices/{id}/recovery-key/versions", RouteId::kListVersions, false,
               &H::ListVersions},
      RouteDef{"GET", "/v1/devices/{id}/recovery-key/accesses", RouteId::kListAccesses, false,
               &H::ListAccesses},
      RouteDef{"GET", "/v1/audit", RouteId::kListAudit, false, &H::ListAudit},
      RouteDef{"GET", "/v1/audit/verify", RouteId::kVerifyAudit, false, &H::VerifyAudit},
      RouteDef{"GET", "/v1/audit/checkpoints", RouteId::kListCheckpoints, false,
               &H::ListCheckpoints},
      RouteDef{"GET", "/v1/metrics", RouteId::kMetrics, false, &H::GetMetrics},
      RouteDef{"GET", "/v1/escrow-certificates/current", RouteId::kCurrentEscrowCertificate,
               false, &H::CurrentEscrowCertificate},
      RouteDef{"GET", "/v1/devices/{id}/escrow-certificate", RouteId::kDeviceEscrowCertificate,
               false, &H::DeviceEscrowCertificate},
      RouteDef{"GET", "/v1/escrow-certificates", RouteId::kListEscrowCertificates, false,
               &H::ListEscrowCertificates},
      RouteDef{"POST", "/v1/devices/{id}/recovery-key/access-requests",
               RouteId::kRequestAccess, true, &H::RequestAccess},
      RouteDef{"GET", "/v1/access-requests", RouteId::kListAccessRequests, false,
               &H::ListAccessRequests},
      RouteDef{"POST", "/v1/access-requests/{rid}/approve", RouteId::kApproveAccessRequest, true,
               &H::ApproveAccessRequest},
      RouteDef{"POST", "/v1/access-requests/{rid}/deny", RouteId::kDenyAccessRequest, true,
               &H::DenyAccessRequest},
      RouteDef{"GET", "/v1/events", RouteId::kListEvents, false, &H::ListEvents},
  };
  return kRoutes;
}

RouteMatch MatchRoute(std::string_view method, std::string_view path) {
  RouteMatch m;
  for (const RouteDef& r : RouteTable()) {
    std::string_view id;
    std::string_view rid;
    if (!PathMatches(r.path, path, id, rid)) continue;
    if (!m.path_known) {
      m.path_known = true;
      m.path_template = std::string(r.path);
      m.device_id = std::string(id);
      m.access_request_id = std::string(rid);
    }
    if (!m.allow.empty()) m.allow += ", ";
    m.allow += r.method;
    if (r.method == method) {
      m.id = r.id;
      m.def = &r;
    }
  }
  if (!m.path_known) m.path_template = "unknown";
  return m;
}

TargetParts SplitTarget(std::string_view target) {
  const std::size_t q = target.find('?');
  if (q == std::string_view::npos) return {target, {}};
  return {target.substr(0, q), target.substr(q + 1)};
}

std::string_view RouteTemplate(RouteId id) {
  for (const RouteDef& r : RouteTable()) {
    if (r.id == id) return r.path;
  }
  return "unknown";
}

}  // namespace escrow::api
