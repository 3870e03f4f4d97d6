#include "portal/vault_forward.h"

#include <array>
#include <string_view>
#include <vector>

#include "base/secret_bytes.h"

namespace escrow::portal {
namespace {

// A vault route the pages may call: method, path pattern ("{}" is one id segment), whether a
// key travels in it.
struct Route {
  std::string_view method;
  std::string_view pattern;
  bool sensitive;
};

constexpr std::array<Route, 10> kRoutes = {{
    {"GET", "devices", false},
    {"GET", "devices/{}", false},
    {"GET", "devices/{}/recovery-key/accesses", false},
    {"GET", "devices/{}/recovery-key/versions", false},
    {"PUT", "devices/{}/recovery-key", true},
    {"POST", "devices/{}/recovery-key/retrieve", true},
    {"POST", "devices/{}/recovery-key/rotate", false},
    {"POST", "devices/{}/recovery-key/access-requests", false},
    {"GET", "access-requests", false},
    {"POST", "access-requests/{}/{decision}", false},
}};

std::vector<std::string_view> Split(std::string_view path) {
  std::vector<std::string_view> parts;
  while (true) {
    const std::size_t slash = path.find('/');
    parts.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return parts;
}

// Ids follow API.md's device id rule; the vault checks again.
bool IsId(std::string_view s) {
  if (s.empty() || s.size() > 128) return false;
  for (const char c : s) {
    if (std::isalnum(static_cast<unsigned char>(c)) == 0 && c != '.' && c != '_' && c != '-') {
      return false;
    }
  }
  return true;
}

bool Matches(std::string_view pattern, std::string_view path) {
  const std::vector<std::string_view> want = Split(pattern);
  const std::vector<std::string_view> got = Split(path);
  if (want.size() != got.size()) return false;
  for (std::size_t i = 0; i < want.size(); ++i) {
    if (want[i] == "{}") {
      if (!IsId(got[i])) return false;
    } else if (want[i] == "{decision}") {
      if (got[i] != "approve" && got[i] != "deny") return false;
    } else if (want[i] != got[i]) {
      return false;
    }
  }
  return true;
}

// Query strings pass through as they are, if made of the characters a form encodes to.
bool IsPlainQuery(std::string_view q) {
  for (const char c : q) {
    if (std::isalnum(static_cast<unsigned char>(c)) == 0 &&
        std::string_view("%._~+=&-").find(c) == std::string_view::npos) {
      return false;
    }
  }
  return true;
}

}  // namespace

PortalResponse ForwardToVault(PortalRequest& request, const Session& session,
                              const HttpsClient& vault) {
  const std::string_view path = std::string_view(request.path).substr(std::string_view("/api/").size());
  const Route* route = nullptr;
  bool path_known = false;
  for (const Route& r : kRoutes) {
    if (!Matches(r.pattern, path)) continue;
    path_known = true;
    if (r.method == request.method) route = &r;
  }
  if (route == nullptr) {
    return path_known ? JsonError(405, "method_not_allowed", "Method not allowed.")
                      : JsonError(404, "not_found", "No such route.");
  }
  if (!IsPlainQuery(request.query)) return JsonError(400, "invalid_request", "Bad query string.");
  if (route->method != "GET" && request.content_type.rfind("application/json", 0) != 0) {
    return JsonError(415, "unsupported_media_type", "Send JSON.");
  }
  HttpsCall call;
  call.method = request.method;
  call.target = "/v1/" + std::string(path);
  if (path == "devices" && request.query.empty()) {
    call.target += "?owner=me";
  } else if (!request.query.empty()) {
    call.target += "?" + request.query;
  }
  call.bearer = session.token;
  call.sensitive = route->sensitive;
  if (route->method != "GET") call.body.swap(request.body);
  Result<HttpsAnswer> answer = vault.Call(call);
  if (route->sensitive) Cleanse(call.body.data(), call.body.size());
  if (!answer.ok()) {
    return route->pattern == "devices/{}/recovery-key"
               ? JsonError(503, "store_failed", "Couldn't update the recovery key for this device.")
               : JsonError(503, "unavailable",
                           "The HSM or the database is unavailable; nothing was changed.");
  }
  PortalResponse response;
  response.status = answer->status;
  response.body = std::move(answer->body);
  response.sensitive = route->sensitive;
  if (!answer->retry_after.empty()) response.headers.emplace_back("Retry-After", answer->retry_after);
  return response;
}

}  // namespace escrow::portal
