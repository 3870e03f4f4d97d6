#include "api/routes.h"

#include <array>
#include <vector>

#include "api/request_handler.h"

namespace escrow::api {
namespace {

std::vector<std::string_view> Split(std::string_view path) {
  std::vector<std::string_view> out;
  if (path.empty() || path.front() != '/') return out;
  path.remove_prefix(1);
  while (true) {
    std::size_t slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

// True if `path` fits `pattern`; the {id} segment goes to `id`.
bool PathMatches(std::string_view pattern, std::string_view path, std::string& id) {
  std::vector<std::string_view> want = Split(pattern);
  std::vector<std::string_view> got = Split(path);
  if (want.size() != got.size() || got.empty()) return false;
  for (std::size_t i = 0; i < want.size(); ++i) {
    if (got[i].empty()) return false;
    if (want[i] == "{id}") {
      id = std::string(got[i]);
    } else if (want[i] != got[i]) {
      return false;
    }
  }
  return true;
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
      RouteDef{"POST", "/v1/devices/{id}/recovery-key/retrieve", RouteId::kRetrieveKey, true,
               &H::RetrieveKey},
      RouteDef{"POST", "/v1/devices/{id}/recovery-key/rotate", RouteId::kRotateKey, true,
               &H::RotateKey},
      RouteDef{"GET", "/v1/devices/{id}/recovery-key/versions", RouteId::kListVersions, false,
               &H::ListVersions},
      RouteDef{"GET", "/v1/audit", RouteId::kListAudit, false, &H::ListAudit},
      RouteDef{"GET", "/v1/audit/verify", RouteId::kVerifyAudit, false, &H::VerifyAudit},
      RouteDef{"GET", "/v1/metrics", RouteId::kMetrics, false, &H::GetMetrics},
  };
  return kRoutes;
}

RouteMatch MatchRoute(std::string_view method, std::string_view path) {
  RouteMatch m;
  for (const RouteDef& r : RouteTable()) {
    std::string id;
    if (!PathMatches(r.path, path, id)) continue;
    if (!m.path_known) {
      m.path_known = true;
      m.path_template = std::string(r.path);
      m.device_id = id;
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
