#pragma once

#include <string>
#include <string_view>

namespace escrow::api {

// Every endpoint of API.md.
enum class RouteId {
  kNone,  // no such path
  kHealth,
  kListDevices,
  kGetDevice,
  kPutDevice,
  kCheckIn,
  kStoreKey,
  kRetrieveKey,
  kRotateKey,
  kListVersions,
  kListAudit,
  kVerifyAudit,
  kMetrics,
};

// The outcome of matching a method and a path (the target without its query string).
struct RouteMatch {
  RouteId id = RouteId::kNone;    // kNone: 404 (path unknown) or 405 (method_allowed false)
  bool path_known = false;        // the path exists for some method
  std::string allow;              // the methods the path answers, for a 405's Allow header
  std::string path_template;      // "/v1/devices/{id}", for logs and metrics
  std::string device_id;          // the {id} segment, if any
};

// Pure and thread-safe.
RouteMatch MatchRoute(std::string_view method, std::string_view path);

// The path template of a route id (for metrics).
std::string_view RouteTemplate(RouteId id);

}  // namespace escrow::api
