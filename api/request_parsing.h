#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "api/http_errors.h"
#include "base/result.h"
#include "base/secret_bytes.h"
#include "storage/access_requests.h"
#include "vault/types.h"

namespace escrow::api {

// Parsers for request bodies and query strings. They are strict on types (a number where a
// string belongs is 400) and lenient on unknown fields. Errors come back as the HttpError to
// answer (400 invalid_request or 415). Stateless and thread-safe.

// True if the Content-Type is application/json, parameters (charset=utf-8) allowed.
bool IsJsonContentType(std::string_view content_type);

// 415 unless a body is application/json; an empty body needs no Content-Type.
std::optional<HttpError> CheckBodyType(std::string_view body, std::string_view content_type);

template <class T>
struct Parsed {
  std::optional<T> value;
  HttpError error;  // set when !value
  bool ok() const { return value.has_value(); }
};

Parsed<vault::DeviceSpec> ParseDeviceSpec(std::string_view body);

struct StoreKeyBody {
  SecretBytes recovery_key;
  std::optional<SecretBytes> confirm_recovery_key;
  std::optional<std::string> key_id;  // as sent (not secret); the service checks its form
};
// The two key strings go straight into SecretBytes; every buffer the JSON parser used is
// wiped before returning. The caller still wipes `body` itself.
Parsed<StoreKeyBody> ParseStoreKey(std::string_view body);

struct StoreCmsBody {
  std::string cms;                    // base64 of the DER EnvelopedData (not secret: encrypted)
  std::optional<std::string> key_id;  // as sent; the service checks its form
};
// {"cms": "...", "key_id": "..."}, `key_id` optional; any other member is invalid_request.
Parsed<StoreCmsBody> ParseStoreCms(std::string_view body);

struct VerifyBody {
  SecretBytes recovery_key;
  std::optional<std::uint32_t> version;
};
// {"recovery_key": "...", "version": N}, `version` optional. The key goes straight into
// SecretBytes, as ParseStoreKey's; the caller still wipes `body` itself.
Parsed<VerifyBody> ParseVerify(std::string_view body);

struct RetrieveBody {
  std::string reason;
  std::optional<std::uint32_t> version;
  std::optional<std::string> access_request;  // dual control: the approved request's id
};
// An empty body is {}.
Parsed<RetrieveBody> ParseRetrieve(std::string_view body);

// POST .../access-requests: {"reason": "...", "version": N}, both optional here (the service
// requires the reason). An empty body is {}.
struct AccessRequestBody {
  std::string reason;
  std::optional<std::uint32_t> version;
};
Parsed<AccessRequestBody> ParseAccessRequest(std::string_view body);

// POST /v1/access-requests/{rid}/approve and /deny: {"note": "..."} ("" if absent; the service
// checks its form). An empty body is {}.
Parsed<std::string> ParseDecisionNote(std::string_view body);

// GET /v1/access-requests?state=&after=&limit= (limit 1..1000, default 100).
struct AccessRequestQuery {
  std::optional<storage::AccessRequestState> state;
  std::uint64_t after = 0;
  std::size_t limit = 100;
};
Parsed<AccessRequestQuery> ParseAccessRequestQuery(const std::map<std::string, std::string>& query);

// An empty body or a JSON object (checkin, rotate).
std::optional<HttpError> CheckEmptyObject(std::string_view body);

// Query string "a=1&b=x%40y" -> {a:1, b:x@y}. nullopt on bad percent-encoding or a repeated
// parameter.
std::optional<std::map<std::string, std::string>> ParseQuery(std::string_view query);

struct AuditQuery {
  std::optional<std::string> device_id;
  std::uint64_t after = 0;
  std::size_t limit = 100;
};
Parsed<AuditQuery> ParseAuditQuery(const std::map<std::string, std::string>& query);

// GET /v1/events: ?after=ID (an event id, default 0) and ?limit=N (1 to 1000, default 100);
// else 400 invalid_request. Other parameters are ignored, as /v1/audit's.
struct EventQuery {
  std::uint64_t after = 0;
  std::size_t limit = 100;
};
Parsed<EventQuery> ParseEventQuery(const std::map<std::string, std::string>& query);

// GET /v1/audit/checkpoints: ?after=SEQ (an audit record's seq, default 0) and ?limit=N (1 to
// 1000, default 100); else 400 invalid_request. Other parameters are ignored, as /v1/audit's.
struct CheckpointQuery {
  std::uint64_t after = 0;
  std::size_t limit = 100;
};
Parsed<CheckpointQuery> ParseCheckpointQuery(const std::map<std::string, std::string>& query);

// GET /v1/devices's paging, ?after=ID&limit=N (the handler reads the filters): `after` must
// be a valid device id and `limit` 1 to 1000 (default 100), else 400 invalid_request.
struct DevicePageQuery {
  std::optional<std::string> after;
  std::size_t limit = 0;
};
Parsed<DevicePageQuery> ParseDevicePageQuery(const std::map<std::string, std::string>& query);
// GET .../recovery-key/accesses: ?after=SEQ (the next page holds the releases with seq < SEQ;
// none: from the newest) and ?limit=N (1 to 1000, default 100). Other parameters are ignored.
struct AccessesQuery {
  std::optional<std::uint64_t> after;
  std::size_t limit = 100;
};
Parsed<AccessesQuery> ParseAccessesQuery(const std::map<std::string, std::string>& query);

}  // namespace escrow::api
