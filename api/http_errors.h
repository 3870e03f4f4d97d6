#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"

namespace escrow::api {

// An API error as it goes on the wire: {"error":{"code":..., "message":...}}.
struct HttpError {
  int status = 500;
  std::string code;
  std::string message;
  std::int64_t retry_after_seconds = 0;  // > 0: send Retry-After
};

// API.md's default message for an error code ("" for an unknown code).
std::string_view DefaultMessage(std::string_view code);

// The one place where a Status becomes an HTTP error. The HTTP status follows the Status code;
// error.code is Status::reason() when it names a code valid for that status, else the default
// for the status; error.message is API.md's text for the code, so internals never leak.
// `store_route`: the request is PUT .../recovery-key, whose 503s are all `store_failed`.
// REQUIRES: !status.ok().
HttpError ErrorFromStatus(const Status& status, bool store_route = false);

// An error made by api/ itself (routing, parsing, limits); `message` defaults to API.md's text.
HttpError MakeError(int http_status, std::string_view code, std::string_view message = {});

// {"error":{"code":"...","message":"..."}}
std::string ErrorBody(const HttpError& error);

}  // namespace escrow::api
