#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "api/http_errors.h"
#include "api/metrics.h"
#include "api/rate_limiter.h"
#include "api/routes.h"
#include "base/clock.h"
#include "vault/config.h"
#include "vault/escrow_service.h"
#include "vault/types.h"

namespace escrow::auth {
class VerifierSource;
}  // namespace escrow::auth

namespace escrow::api {

// One HTTP request as the session read it, without Beast types.
struct ApiRequest {
  std::string request_id;
  std::string method;
  std::string target;         // path and query
  std::optional<std::string> authorization;
  std::string content_type;
  std::string body;           // wiped by Handle()
  bool headers_too_large = false;  // the parser stopped at the header limit
  bool body_too_large = false;     // the parser stopped at the body limit
  std::optional<vault::ClientConfig> client;  // the matched client certificate, if any
};

// The answer, plus what the access log needs.
struct ApiResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  bool sensitive = false;  // carries a plaintext key: wipe `body` after the write
  std::string allow;       // for 405
  std::int64_t retry_after_seconds = 0;  // for 429
  std::string route;       // the path template
  std::string principal;   // who called, kind-qualified, for the log ("-" before TLS auth)
  std::string auth_error;  // why authentication failed, for the log (never token contents)
};

// What a route's handler gets: the authenticated caller, the {id} segment (already checked
// against API.md's rule), the query string and the request (whose body it may wipe).
struct RouteCall {
  const vault::Caller& caller;
  const std::string& id;
  std::string_view query;
  ApiRequest& request;
  std::string_view access_request_id = {};  // the {rid} segment (not yet checked)
};

// The per-request pipeline of API.md, in its order: 401 certificate, 431, 401 token, 429,
// 404/405 route, 413/415/400 request, then the escrow service (whose Status is mapped in
// http_errors). Pure of sockets, so it runs on a worker thread: it blocks on the service.
// Thread-safe (limiters and metrics lock; the service is thread-safe).
class RequestHandler {
 public:
  // `verifier` may be null: then every bearer token fails. Each request verifies with the
  // set it holds at that moment (the IdP's keys are reloaded while serving).
  RequestHandler(vault::EscrowService& service, const auth::VerifierSource* verifier,
                 const vault::VaultConfig& config, Metrics& metrics,
                 const Clock& clock = Clock::System());
  RequestHandler(const RequestHandler&) = delete;  // owns the limiters
  RequestHandler& operator=(const RequestHandler&) = delete;
  RequestHandler(RequestHandler&&) = delete;  // the metrics hold its limiters' addresses
  RequestHandler& operator=(RequestHandler&&) = delete;
  ~RequestHandler();  // stops the metrics reading the limiters

  ApiResponse Handle(ApiRequest& request);

  // True if Handle() answers `request` without waiting for the HSM, the database or a lock
  // held across either: a request without a mapped client certificate (401, or health) and
  // GET /v1/health (a cached answer). The session answers those on its io thread, so that an
  // anonymous flood never queues in front of or behind a key operation.
  static bool AnswersAtOnce(const ApiRequest& request);

 private:
  friend std::span<const RouteDef> RouteTable();  // the table names the handlers below
  struct Authn;
  ApiResponse Dispatch(const RouteMatch& route, const vault::Caller& caller,
                       std::string_view query, ApiRequest& request);
  // One retrieval attempt of `principal` against retrieve_per_user: in memory, or, on a
  // database that several nodes share, counted in it (a rolling window; kUnavailable if the
  // database fails).
  Result<LimitDecision> HitRetrievalLimit(const std::string& principal);
  ApiResponse Throttled(std::string_view limit, const LimitDecision& d, std::string_view actor,
                        std::string_view role, std::string_view detail);
  // 400 invalid_request for a device id that breaks API.md's rule, audited once per principal
  // and window (with the previous window's count), the id escaped and cut short.
  ApiResponse InvalidDeviceId(const vault::Caller& caller, std::string_view id);

  // The route handlers of RouteTable(), one per endpoint.
  ApiResponse PutDevice(const RouteCall& call);
  ApiResponse GetDevice(const RouteCall& call);
  ApiResponse ListDevices(const RouteCall& call);
  ApiResponse CheckIn(const RouteCall& call);
  ApiResponse StoreKey(const RouteCall& call);
  ApiResponse StoreCmsKey(const RouteCall& call);
  ApiResponse RetrieveKey(const RouteCall& call);
  ApiResponse VerifyKey(const RouteCall& call);
  ApiResponse RotateKey(const RouteCall& call);
  ApiResponse RotationCommand(const RouteCall& call);
  ApiResponse ListVersions(const RouteCall& call);
  ApiResponse ListAccesses(const RouteCall& call);
  ApiResponse ListAudit(const RouteCall& call);
  ApiResponse VerifyAudit(const RouteCall& call);
  ApiResponse ListCheckpoints(const RouteCall& call);
  ApiResponse GetMetrics(const RouteCall& call);
  ApiResponse CurrentEscrowCertificate(const RouteCall& call);
  ApiResponse DeviceEscrowCertificate(const RouteCall& call);
  ApiResponse ListEscrowCertificates(const RouteCall& call);
  ApiResponse RequestAccess(const RouteCall& call);
  ApiResponse ListAccessRequests(const RouteCall& call);
  ApiResponse ApproveAccessRequest(const RouteCall& call);
  ApiResponse DenyAccessRequest(const RouteCall& call);
  ApiResponse ListEvents(const RouteCall& call);
  // Approve and deny: the note's JSON, then the service.
  ApiResponse DecideAccessRequest(const RouteCall& call, bool approve);

  vault::EscrowService& service_;
  const auth::VerifierSource* verifier_;
  Metrics& metrics_;
  const Clock& clock_;
  // retrieve_per_user is counted in the database (a PostgreSQL url: API.md counts it across
  // nodes); else in retrieve_per_user_.
  const bool shared_retrieval_limit_;
  RateLimiter retrieve_per_user_;
  RateLimiter requests_per_client_;
  RateLimiter requests_per_user_;
  RateLimiter failed_auth_;
  RateLimiter failed_auth_audits_;  // one audit record per client and window
  RateLimiter invalid_ids_;         // one audit record per principal and minute
  RateLimiter cms_failures_;        // failed CMS envelope opens per client
};

// The JSON error answer for `error`.
ApiResponse ErrorResponse(const HttpError& error);

}  // namespace escrow::api
