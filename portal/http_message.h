#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace escrow::portal {

// A browser's request, as the server hands it to the router (no Beast types past this point).
// `body` may carry a recovery key: the server wipes it after the handler returns.
struct PortalRequest {
  std::string method;
  std::string path;   // without the query
  std::string query;  // without '?'
  std::string cookie;
  std::string content_type;
  std::string csrf_header;     // X-CSRF-Token
  std::string sec_fetch_site;  // Sec-Fetch-Site
  std::string origin;
  std::string body;
};

// The answer. `sensitive` answers carry a recovery key: the server wipes them once written.
// The security headers (CSP, no-store, no-referrer, ...) are added by the server to every
// answer, so no handler can forget them.
struct PortalResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // Set-Cookie, Location, ...
  bool sensitive = false;
};

// The value of cookie `name` in a Cookie header, or nullopt.
std::optional<std::string_view> CookieValue(std::string_view header, std::string_view name);

// The decoded value of `name` in application/x-www-form-urlencoded text (a query string or a
// form body), or nullopt if absent or badly percent-encoded.
std::optional<std::string> FormValue(std::string_view form, std::string_view name);

// Percent-encodes for a query component (RFC 3986 unreserved characters stay).
std::string UrlEncode(std::string_view text);

// {"error":{"code":code,"message":message}} with `status`.
PortalResponse JsonError(int status, std::string_view code, std::string_view message);
// A 303 to `location` (after a form POST) or 302 for a GET.
PortalResponse Redirect(std::string location, int status = 303);

}  // namespace escrow::portal
