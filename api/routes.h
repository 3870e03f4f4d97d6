#pragma once

#include <span>
#include <string>
#include <string_view>

namespace escrow::api {

class RequestHandler;
struct ApiResponse;
struct RouteCall;

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
  kVerifyKey,
  kRotateKey,
  kListVersions,
  kListAudit,
  kVerifyAudit,
  kMetrics,
  kCurrentEscrowCertificate,
  kDeviceEscrowCertificate,
  kListEscrowCertificates,
  kStoreCmsKey,
  kRotationCommand,
  kListAccesses,
  kRequestAccess,
  kListAccessRequests,
  kApproveAccessRequest,
  kDenyAccessRequest,
  kListEvents,
  kListCheckpoints,
};

// One endpoint: the single place that knows its method, path, body and handler. Matching,
// a 405's Allow header, the metrics' route labels and dispatch all read the table.
struct RouteDef {
  std::string_view method;
  // The template: "{id}" matches one non-empty segment (a device id), "{rid}" one that is an
  // access request's id.
  std::string_view path;
  RouteId id;
  bool takes_body;  // JSON body: 415 unless application/json, before the handler runs
  // Answers the request once it has passed API.md's checks; null for /v1/health, which
  // RequestHandler::Handle answers before authentication.
  ApiResponse (RequestHandler::*handler)(const RouteCall&);
};

// Every endpoint of API.md, in the order a 405's Allow header lists their methods.
std::span<const RouteDef> RouteTable();

// The outcome of matching a method and a path (the target without its query string).
struct RouteMatch {
  RouteId id = RouteId::kNone;    // kNone: 404 (path unknown) or 405 (method_allowed false)
  const RouteDef* def = nullptr;  // the matched entry, if id is not kNone
  bool path_known = false;        // the path exists for some method
  std::string allow;              // the methods the path answers, for a 405's Allow header
  std::string path_template;      // "/v1/devices/{id}", for logs and metrics
  std::string device_id;          // the {id} segment, if any
  std::string access_request_id;  // the {rid} segment, if any
};

// Pure and thread-safe.
RouteMatch MatchRoute(std::string_view method, std::string_view path);

// A request target split at its first '?': the path, and the query ("" if none).
struct TargetParts {
  std::string_view path;
  std::string_view query;
};
TargetParts SplitTarget(std::string_view target);

// The path template of a route id (for metrics).
std::string_view RouteTemplate(RouteId id);

}  // namespace escrow::api
