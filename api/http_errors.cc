#include "api/http_errors.h"

#include <array>
#include <utility>

#include <boost/json.hpp>

#include "base/check.h"

namespace escrow::api {
namespace {

struct CodeText {
  std::string_view code;
  std::string_view message;
};

// API.md's error table. Rows whose table text describes the message rather than giving it
// ("What is wrong with the request") get a generic sentence here; the specific one comes from
// the decision that produced the error.
constexpr std::array kMessages{
    CodeText{"keys_mismatch", "Keys must match. Check keys and try again."},
    CodeText{"invalid_cms", "The escrowed key envelope could not be opened."},
    CodeText{"invalid_recovery_key", "The recovery key is not valid for this device's kind."},
    CodeText{"invalid_request", "The request is not valid."},
    CodeText{"unauthenticated", "Missing or invalid client certificate or token."},
    CodeText{"forbidden", "You may not do this."},
    CodeText{"personal_device", "IT support can't view recovery keys of personal devices."},
    CodeText{"device_not_found", "No such device is enrolled."},
    CodeText{"recovery_key_not_found",
             "No recovery key is stored for this device. If it is encrypted, contact your IT "
             "support person."},
    CodeText{"not_found", "No such route."},
    CodeText{"approval_required", "This retrieval needs an approved access request."},
    CodeText{"self_approval", "An access request can't be approved by the person who made it."},
    CodeText{"access_request_not_found",
             "No such access request (also for requests the caller may not see)."},
    CodeText{"access_request_not_usable",
             "The access request is not pending (to decide) or not approved, unexpired and "
             "unused (to use)."},
    CodeText{"method_not_allowed", "Method not allowed."},
    CodeText{"encryption_not_enabled",
             "We were unable to upload your recovery key: your organization hasn't enabled "
             "encryption for this device. Contact your IT support person."},
    CodeText{"device_not_synced",
             "We were unable to upload your recovery key: the device hasn't checked in "
             "recently. Sync the device (Check access), then try again."},
    CodeText{"conflict", "The request conflicts with the current state."},
    CodeText{"rotation_not_pending", "No rotation is pending for this device."},
    CodeText{"payload_too_large", "The request body is larger than 16 KiB."},
    CodeText{"unsupported_media_type", "The request body must be application/json."},
    CodeText{"rate_limited", "Too many requests. Try again later."},
    CodeText{"headers_too_large", "The request headers are larger than 8 KiB."},
    CodeText{"integrity_error", "A stored record failed its integrity check."},
    CodeText{"store_failed", "Couldn't update the recovery key for this device."},
    CodeText{"unavailable", "The HSM or the database is unavailable; nothing was changed."},
    CodeText{"internal", "Internal error."},
};

// The codes a reason may name for each HTTP status (anything else falls back to the default,
// so a reason meant for one status never travels with another).
bool ReasonFits(int http_status, std::string_view reason) {
  switch (http_status) {
    case 400:
      return reason == "keys_mismatch" || reason == "invalid_recovery_key" ||
             reason == "invalid_request" || reason == "invalid_cms";
    case 403:
      return reason == "forbidden" || reason == "personal_device" ||
             reason == "approval_required" || reason == "self_approval";
    case 404:
      return reason == "device_not_found" || reason == "recovery_key_not_found" ||
             reason == "access_request_not_found";
    case 409:
      return reason == "encryption_not_enabled" || reason == "device_not_synced" ||
             reason == "conflict" || reason == "rotation_not_pending" ||
             reason == "access_request_not_usable";
    default:
      return false;
  }
}

}  // namespace

std::string_view DefaultMessage(std::string_view code) {
  for (const CodeText& row : kMessages) {
    if (row.code == code) return row.message;
  }
  return {};
}

HttpError MakeError(int http_status, std::string_view code, std::string_view message) {
  HttpError e;
  e.status = http_status;
  e.code = std::string(code);
  e.message = std::string(message.empty() ? DefaultMessage(code) : message);
  return e;
}

HttpError ErrorFromStatus(const Status& status, bool store_route) {
  ESCROW_CHECK(!status.ok());
  int http = 500;
  std::string_view code = "internal";
  switch (status.code()) {
    case Code::kInvalidArgument: http = 400; code = "invalid_request"; break;
    case Code::kUnauthenticated: http = 401; code = "unauthenticated"; break;
    case Code::kPermissionDenied: http = 403; code = "forbidden"; break;
    case Code::kNotFound: http = 404; code = "device_not_found"; break;
    case Code::kFailedPrecondition:
    case Code::kAlreadyExists: http = 409; code = "conflict"; break;
    case Code::kResourceExhausted: http = 429; code = "rate_limited"; break;
    case Code::kDataLoss: http = 500; code = "integrity_error"; break;
    case Code::kUnavailable: http = 503; code = store_route ? "store_failed" : "unavailable"; break;
    case Code::kInternal:
    case Code::kOk: http = 500; code = "internal"; break;
  }
  if (ReasonFits(http, status.reason())) code = status.reason();
  HttpError e = MakeError(http, code);
  // Rows of API.md whose message is the decision's own explanation: vault/ writes these for
  // the caller (what is wrong with the request, what a valid key looks like, why this is
  // denied), never with internals.
  if ((code == "invalid_request" || code == "invalid_recovery_key" || code == "forbidden") &&
      !status.message().empty() && status.message().size() <= 300) {
    e.message = status.message();
  }
  if (http == 429) e.retry_after_seconds = status.retry_after_seconds() > 0 ? status.retry_after_seconds() : 1;
  return e;
}

std::string ErrorBody(const HttpError& error) {
  boost::json::object inner;
  inner["code"] = error.code;
  inner["message"] = error.message;
  boost::json::object outer;
  outer["error"] = std::move(inner);
  return boost::json::serialize(outer);
}

}  // namespace escrow::api
