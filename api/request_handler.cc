#include "api/request_handler.h"

#include <openssl/crypto.h>

#include <algorithm>

#include <boost/json.hpp>

#include "api/json_views.h"
#include "api/request_parsing.h"
#include "auth/jwt_verifier.h"
#include "auth/verifier_source.h"
#include "hsm/escrow_keys.h"

namespace escrow::api {
namespace json = boost::json;
namespace {

ApiResponse JsonResponse(int status, const json::object& body) {
  ApiResponse r;
  r.status = status;
  r.body = json::serialize(body);
  return r;
}

std::size_t TrackedKeys(const vault::VaultConfig& config) {
  return static_cast<std::size_t>(std::max(config.max_tracked_keys, 1));
}

// "Bearer <token>" (scheme case-insensitive) -> token; nullopt if malformed.
std::optional<std::string_view> BearerToken(std::string_view header) {
  constexpr std::string_view kScheme = "bearer ";
  if (header.size() <= kScheme.size()) return std::nullopt;
  for (std::size_t i = 0; i < kScheme.size(); ++i) {
    char c = header[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != kScheme[i]) return std::nullopt;
  }
  std::string_view token = header.substr(kScheme.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  if (token.empty() || token.find(' ') != std::string_view::npos) return std::nullopt;
  return token;
}

// Wipes the request body on every path out of Handle(): it may carry a recovery key.
struct BodyWiper {
  explicit BodyWiper(std::string& b) : body(b) {}
  BodyWiper(const BodyWiper&) = delete;  // a scope guard: one wipe, at the end of its scope
  BodyWiper& operator=(const BodyWiper&) = delete;
  BodyWiper(BodyWiper&&) = delete;
  BodyWiper& operator=(BodyWiper&&) = delete;
  ~BodyWiper() {
    if (!body.empty()) OPENSSL_cleanse(body.data(), body.size());
    body.clear();
  }
  std::string& body;
};

}  // namespace

ApiResponse ErrorResponse(const HttpError& error) {
  ApiResponse r;
  r.status = error.status;
  r.body = ErrorBody(error);
  r.retry_after_seconds = error.retry_after_seconds;
  return r;
}

RequestHandler::RequestHandler(vault::EscrowService& service,
                               const auth::VerifierSource* verifier,
                               const vault::VaultConfig& config, Metrics& metrics,
                               const Clock& clock)
    : service_(service),
      verifier_(verifier),
      metrics_(metrics),
      clock_(clock),
      shared_retrieval_limit_(!config.db_url.empty()),
      retrieve_per_user_(config.retrieve_per_user, TrackedKeys(config)),
      requests_per_client_(config.requests_per_client, TrackedKeys(config)),
      requests_per_user_(config.requests_per_user, TrackedKeys(config)),
      failed_auth_(config.failed_auth, TrackedKeys(config)),
      failed_auth_audits_(vault::RateLimit{1, config.failed_auth.window}, TrackedKeys(config)),
      invalid_ids_(vault::RateLimit{1, std::chrono::seconds(60)}, TrackedKeys(config)),
      cms_failures_(config.cms_failures, TrackedKeys(config)) {
  metrics_.TrackLimiters({{"retrieve_per_user", &retrieve_per_user_},
                          {"requests_per_client", &requests_per_client_},
                          {"requests_per_user", &requests_per_user_},
                          {"failed_auth", &failed_auth_},
                          {"invalid_ids", &invalid_ids_},
                          {"cms_failures", &cms_failures_}});
}

RequestHandler::~RequestHandler() { metrics_.TrackLimiters({}); }

Result<LimitDecision> RequestHandler::HitRetrievalLimit(const std::string& principal) {
  if (!shared_retrieval_limit_) return retrieve_per_user_.Hit(principal);
  const vault::RateLimit& limit = retrieve_per_user_.limit();
  if (!limit.enabled()) return LimitDecision{};
  // Never a principal's own name, so never anyone's quota (which counts under the name).
  ESCROW_ASSIGN_OR_RETURN(const storage::QuotaWindow window,
                          service_.CountSharedAttempt("retrievals:" + principal, limit.window));
  LimitDecision d;
  d.count = window.count;
  d.allowed = window.count <= limit.count;
  d.first_hit = window.count == 1;
  d.first_denial = window.count == limit.count + 1;
  // Denied attempts count too, so room comes back only once this one has left the window.
  if (!d.allowed) d.retry_after_seconds = std::max<std::int64_t>(1, limit.window.count());
  return d;
}

bool RequestHandler::AnswersAtOnce(const ApiRequest& request) {
  if (!request.client) return true;
  return SplitTarget(request.target).path == "/v1/health";
}

ApiResponse RequestHandler::InvalidDeviceId(const vault::Caller& caller, std::string_view id) {
  const LimitDecision d = invalid_ids_.Hit(caller.QualifiedName());
  if (d.first_hit) {
    // Cut here, escaped once by the audit log (whatever is not clean UTF-8 becomes \xNN).
    std::string detail = "invalid device id \"" + std::string(id.substr(0, 64)) + "\"";
    if (d.previous_count > 1) {
      detail += "; " + std::to_string(d.previous_count) + " invalid ids in the previous minute";
    }
    service_.RecordSecurityEvent(caller.QualifiedName(), caller.RoleName(), "malformed_request",
                                 "invalid_request", detail);
  }
  return ErrorResponse(MakeError(400, "invalid_request",
                                 "Device ids are 1 to 128 characters of A-Z, a-z, 0-9, '.', '_' "
                                 "and '-'."));
}

ApiResponse RequestHandler::Throttled(std::string_view limit, const LimitDecision& d,
                                      std::string_view actor, std::string_view role,
                                      std::string_view detail) {
  metrics_.CountThrottled(limit);
  if (d.first_denial) {
    // Once per principal and window: later denials in the window only count.
    service_.RecordSecurityEvent(actor, role, "rate_limited", "rate_limited",
                                 std::string(limit) + ": " + std::to_string(d.count) +
                                     " attempts in the window; " + std::string(detail));
  }
  HttpError e = MakeError(429, "rate_limited");
  e.retry_after_seconds = d.retry_after_seconds;
  return ErrorResponse(e);
}

ApiResponse RequestHandler::Handle(ApiRequest& request) {
  BodyWiper wiper{request.body};
  const auto [path, query] = SplitTarget(request.target);
  const RouteMatch route = MatchRoute(request.method, path);
  const bool health_path = route.path_template == "/v1/health";

  auto finish = [&](ApiResponse r, std::string principal) {
    r.route = route.path_template;
    r.principal = std::move(principal);
    return r;
  };

  // 401 for the certificate: only /v1/health answers without a mapped one.
  if (!health_path && !request.client) {
    ApiResponse r = ErrorResponse(MakeError(401, "unauthenticated"));
    r.auth_error = "no mapped client certificate";
    return finish(std::move(r), "-");
  }
  if (request.headers_too_large) {
    return finish(ErrorResponse(MakeError(431, "headers_too_large")),
                  request.client ? vault::ClientPrincipal(request.client->name) : "-");
  }
  if (health_path) {
    if (route.id != RouteId::kHealth) {
      ApiResponse r = ErrorResponse(MakeError(405, "method_not_allowed"));
      r.allow = route.allow;
      return finish(std::move(r), "-");
    }
    vault::HealthReport h = service_.Health();
    return finish(JsonResponse(h.ok ? 200 : 503, HealthJson(h)), "-");
  }

  // 401 for the token.
  const vault::ClientConfig& client = *request.client;
  std::optional<vault::Caller> caller;
  std::string auth_error;
  if (client.role == "mdm" || client.role == "notifier") {
    if (request.authorization) {
      auth_error = client.role == "mdm" ? "bearer token on an mdm client"
                                        : "bearer token on a notifier client";
    } else if (client.role == "mdm") {
      caller = vault::Caller::Mdm(client.name);
    } else {
      caller = vault::Caller::Notifier(client.name);
    }
  } else if (client.role != "frontend") {
    auth_error = "client has no known role";
  } else if (!request.authorization) {
    auth_error = "no bearer token";
  } else if (verifier_ == nullptr) {
    auth_error = "no token verifier";
  } else if (std::optional<std::string_view> token = BearerToken(*request.authorization)) {
    Result<auth::VerifiedToken> v = verifier_->Current()->Verify(*token, clock_.Now());
    if (v.ok()) {
      vault::RoleSet roles;
      for (const std::string& r : v->roles) roles.AddByName(r);
      caller = vault::Caller::User(std::move(v->user), roles, client.name);
    } else {
      auth_error = v.status().message();
    }
  } else {
    auth_error = "malformed Authorization header";
  }
  if (!caller) {
    // Throttled per client and presented token, so one bad token never locks out the
    // frontend's other users; audited once per client and window, however many tokens a
    // client throttles in it, so that new tokens never grow the audit trail.
    const std::string key = client.name + '\n' + request.authorization.value_or("");
    LimitDecision d = failed_auth_.Hit(key);
    ApiResponse r;
    if (d.allowed) {
      r = ErrorResponse(MakeError(401, "unauthenticated"));
    } else {
      const LimitDecision per_client = failed_auth_audits_.Hit(client.name);
      d.first_denial = per_client.first_hit;
      std::string detail = "failed authentication with one token";
      if (per_client.previous_count > 1) {
        detail += "; " + std::to_string(per_client.previous_count) +
                  " throttled attempts by this client in the previous window";
      }
      r = Throttled("failed_auth", d, vault::ClientPrincipal(client.name), client.role, detail);
    }
    r.auth_error = auth_error;
    return finish(std::move(r), vault::ClientPrincipal(client.name));
  }
  // Kind-qualified ("user:alice", "client:mdm"): the key of every limit that counts users and
  // clients alike, the audit actor and the log's principal, so that a user whose owner claim
  // is a client's name never shares a limit or an identity with that client.
  const std::string principal = caller->QualifiedName();

  // 429: the client's ceiling, every request per user, then every retrieval attempt per user.
  if (LimitDecision d = requests_per_client_.Hit(client.name); !d.allowed) {
    return finish(Throttled("requests_per_client", d, vault::ClientPrincipal(client.name),
                            client.role, "requests per client"),
                  principal);
  }
  if (caller->kind == vault::Caller::Kind::kUser) {
    if (LimitDecision d = requests_per_user_.Hit(principal); !d.allowed) {
      return finish(Throttled("requests_per_user", d, principal, caller->RoleName(),
                              "requests per user"),
                    principal);
    }
  }
  // A verify is an attempt at a key too: a user's counts against their retrievals (a
  // client's meets its ceiling above; per device, the service bounds the mismatches).
  if (route.id == RouteId::kRetrieveKey || route.id == RouteId::kRequestAccess ||
      (route.id == RouteId::kVerifyKey && caller->kind == vault::Caller::Kind::kUser)) {
    Result<LimitDecision> d = HitRetrievalLimit(principal);
    if (!d.ok()) return finish(ErrorResponse(ErrorFromStatus(d.status())), principal);
    if (!d->allowed) {
      return finish(Throttled("retrieve_per_user", *d, principal, caller->RoleName(),
                              "retrievals per user"),
                    principal);
    }
  }

  // 404/405 for the route.
  if (route.id == RouteId::kNone) {
    if (!route.path_known) {
      return finish(ErrorResponse(MakeError(404, "not_found")), principal);
    }
    ApiResponse r = ErrorResponse(MakeError(405, "method_not_allowed"));
    r.allow = route.allow;
    return finish(std::move(r), principal);
  }

  // 413 for the body (the parser stopped reading it).
  if (request.body_too_large) {
    return finish(ErrorResponse(MakeError(413, "payload_too_large")), principal);
  }
  ApiResponse r = Dispatch(route, *caller, query, request);
  // The HSM or the database failed this request: health must say so now, not in a second.
  if (r.status == 503) service_.NoteUnavailable();
  return finish(std::move(r), principal);
}

ApiResponse RequestHandler::Dispatch(const RouteMatch& route, const vault::Caller& caller,
                                     std::string_view query, ApiRequest& request) {
  const RouteDef& def = *route.def;
  if (route.id != RouteId::kListEvents && vault::OnlyReadsEvents(caller)) {
    // Audited here (the service is never asked); a notifier that keeps trying meets its
    // client's ceiling.
    service_.RecordSecurityEvent(caller.QualifiedName(), caller.RoleName(), "forbidden_route",
                                 "forbidden", "a notifier client on " + route.path_template);
    return ErrorResponse(MakeError(403, "forbidden"));
  }
  if (def.takes_body) {
    if (std::optional<HttpError> e = CheckBodyType(request.body, request.content_type)) {
      return ErrorResponse(*e);
    }
  }
  // A malformed id is a malformed request: 400 before any device lookup.
  if (route.path_template.find("{id}") != std::string::npos &&
      !vault::IsValidDeviceId(route.device_id)) {
    return InvalidDeviceId(caller, route.device_id);
  }
  if (def.handler == nullptr) return ErrorResponse(MakeError(404, "not_found"));
  return (this->*def.handler)(
      RouteCall{caller, route.device_id, query, request, route.access_request_id});
}

namespace {

ApiResponse Fail(const Status& s, bool store_route = false) {
  return ErrorResponse(ErrorFromStatus(s, store_route));
}

}  // namespace

ApiResponse RequestHandler::PutDevice(const RouteCall& call) {
  Parsed<vault::DeviceSpec> spec = ParseDeviceSpec(call.request.body);
  if (!spec.ok()) return ErrorResponse(spec.error);
  Result<vault::PutDeviceResult> r = service_.PutDevice(call.caller, call.id, *spec.value);
  if (!r.ok()) return Fail(r.status());
  return JsonResponse(r->created ? 201 : 200, DeviceJson(r->device));
}

ApiResponse RequestHandler::GetDevice(const RouteCall& call) {
  Result<vault::Device> r = service_.GetDevice(call.caller, call.id);
  if (!r.ok()) return Fail(r.status());
  return JsonResponse(200, DeviceJson(*r));
}

ApiResponse RequestHandler::ListDevices(const RouteCall& call) {
  std::optional<std::map<std::string, std::string>> q = ParseQuery(call.query);
  if (!q) return ErrorResponse(MakeError(400, "invalid_request", "malformed query string"));
  std::optional<std::string_view> owner, serial, key_id;
  if (auto it = q->find("owner"); it != q->end()) owner = it->second;
  if (auto it = q->find("serial"); it != q->end()) serial = it->second;
  if (auto it = q->find("key_id"); it != q->end()) key_id = it->second;
  Parsed<DevicePageQuery> page = ParseDevicePageQuery(*q);
  if (!page.ok()) return ErrorResponse(page.error);
  vault::DevicePaging paging;
  if (page.value->after) paging.after = *page.value->after;
  paging.limit = page.value->limit;
  // ?rotation=overdue: the one value of the fourth filter, alone.
  if (auto it = q->find("rotation"); it != q->end()) {
    if (it->second != "overdue" || owner || serial || key_id) {
      return ErrorResponse(MakeError(400, "invalid_request",
                                     "rotation takes the value overdue, and no other filter."));
    }
    Result<vault::DevicePage> r = service_.ListOverdueRotations(call.caller, paging);
    if (!r.ok()) return Fail(r.status());
    return JsonResponse(200, DevicePageJson(*r));
  }
  Result<vault::DevicePage> r = service_.ListDevices(call.caller, owner, serial, key_id, paging);
  if (!r.ok()) return Fail(r.status());
  return JsonResponse(200, DevicePageJson(*r));
}

ApiResponse RequestHandler::CheckIn(const RouteCall& call) {
  if (std::optional<HttpError> e = CheckEmptyObject(call.request.body)) return ErrorResponse(*e);
  Result<bool> r = service_.CheckIn(call.caller, call.id);
  if (!r.ok()) return Fail(r.status());
  json::object o;
  o["rotation_required"] = *r;
  return JsonResponse(200, o);
}

ApiResponse RequestHandler::StoreKey(const RouteCall& call) {
  std::string& body = call.request.body;
  Parsed<StoreKeyBody> parsed = ParseStoreKey(body);
  OPENSSL_cleanse(body.data(), body.size());
  if (!parsed.ok()) return ErrorResponse(parsed.error);
  const SecretBytes* confirm =
      parsed.value->confirm_recovery_key ? &*parsed.value->confirm_recovery_key : nullptr;
  vault::StoreKeyExtras extras;
  extras.key_id = std::move(parsed.value->key_id);
  Result<vault::StoreKeyResult> r =
      service_.StoreKey(call.caller, call.id, parsed.value->recovery_key, confirm, extras);
  if (!r.ok()) return Fail(r.status(), /*store_route=*/true);
  return JsonResponse(200, StoreKeyJson(*r));
}

ApiResponse RequestHandler::StoreCmsKey(const RouteCall& call) {
  std::string& body = call.request.body;
  // Failed opens count per client; past the limit, 429 before anything is parsed.
  const std::string client = call.caller.QualifiedName();
  if (LimitDecision d = cms_failures_.Peek(client); !d.allowed) {
    OPENSSL_cleanse(body.data(), body.size());
    // The hit that went over is the one audited (once per client and window).
    const LimitDecision over = cms_failures_.Hit(client);
    d.first_denial = over.first_denial;
    d.count = over.count;
    return Throttled("cms_failures", d, client, call.caller.RoleName(), "failed CMS envelopes");
  }
  Parsed<StoreCmsBody> parsed = ParseStoreCms(body);
  OPENSSL_cleanse(body.data(), body.size());
  if (!parsed.ok()) return ErrorResponse(parsed.error);
  Result<vault::StoreKeyResult> r =
      service_.StoreCmsKey(call.caller, call.id, parsed.value->cms, parsed.value->key_id);
  if (!r.ok()) {
    if (r.status().reason() == hsm::kInvalidCms) (void)cms_failures_.Hit(client);
    return Fail(r.status(), /*store_route=*/true);
  }
  return JsonResponse(200, StoreKeyJson(*r));
}

ApiResponse RequestHandler::RetrieveKey(const RouteCall& call) {
  Parsed<RetrieveBody> parsed = ParseRetrieve(call.request.body);
  if (!parsed.ok()) return ErrorResponse(parsed.error);
  std::optional<std::string_view> access_request;
  if (parsed.value->access_request) access_request = *parsed.value->access_request;
  Result<vault::RetrievedKey> r = service_.Retrieve(call.caller, call.id, parsed.value->reason,
                                                    parsed.value->version, access_request);
  if (!r.ok()) return Fail(r.status());
  ApiResponse resp;
  resp.status = 200;
  resp.sensitive = true;
  resp.body = RetrievedKeyBody(*r);
  return resp;
}

ApiResponse RequestHandler::RotationCommand(const RouteCall& call) {
  if (std::optional<HttpError> e = CheckEmptyObject(call.request.body)) return ErrorResponse(*e);
  Result<vault::RotationCommand> r = service_.IssueRotationCommand(call.caller, call.id);
  if (!r.ok()) return Fail(r.status());
  ApiResponse resp;
  resp.status = 200;
  resp.sensitive = true;
  resp.body = RotationCommandBody(*r);
  return resp;
}

ApiResponse RequestHandler::VerifyKey(const RouteCall& call) {
  std::string& body = call.request.body;
  Parsed<VerifyBody> parsed = ParseVerify(body);
  OPENSSL_cleanse(body.data(), body.size());
  if (!parsed.ok()) return ErrorResponse(parsed.error);
  Result<vault::VerifyResult> r =
      service_.VerifyKey(call.caller, call.id, parsed.value->recovery_key, parsed.value->version);
  if (!r.ok()) return Fail(r.status());
  json::object o;
  o["matches"] = r->matches;
  o["version"] = r->version;
  return JsonResponse(200, o);
}

ApiResponse RequestHandler::RotateKey(const RouteCall& call) {
  if (std::optional<HttpError> e = CheckEmptyObject(call.request.body)) return ErrorResponse(*e);
  Status s = service_.RequestRotation(call.caller, call.id);
  if (!s.ok()) return Fail(s);
  json::object o;
  o["rotation_pending"] = true;
  return JsonResponse(202, o);
}

ApiResponse RequestHandler::ListVersions(const RouteCall& call) {
  Result<std::vector<vault::VersionInfo>> r = service_.ListVersions(call.caller, call.id);
  if (!r.ok()) return Fail(r.status());
  return JsonResponse(200, VersionsJson(*r));
}

ApiResponse RequestHandler::ListAccesses(const RouteCall& call) {
  std::optional<std::map<std::string, std::string>> q = ParseQuery(call.query);
  if (!q) return ErrorResponse(MakeError(400, "invalid_request", "malformed query string"));
  Parsed<AccessesQuery> aq = ParseAccessesQuery(*q);
  if (!aq.ok()) return ErrorResponse(aq.error);
  Result<vault::AccessPage> r =
      service_.ListAccesses(call.caller, call.id, aq.value->after, aq.value->limit);
  if (!r.ok()) return Fail(r.status());
  return JsonResponse(200, AccessesJson(*r));
}

ApiResponse RequestHandler::ListAudit(const RouteCall& call) {
  std::optional<std::map<std::string, std::string>> q = ParseQuery(call.query);
  if (!q) return ErrorResponse(MakeError(400, "invalid_request", "malformed query string"));
  Parsed<AuditQuery> aq = ParseAuditQuery(*q);
  if (!aq.ok()) return ErrorResponse(aq.error);
  std::optional<std::string_view> device;
  if (aq.value->device_id) device = *aq.value->device_id;
  Result<vault::AuditPage> r =
      service_.ListAudit(call.caller, device, aq.value->after, aq.value->limit);
  if (!r.ok()) return Fail(r.status());
  return JsonResponse(200, AuditPageJson(*r));
}

ApiResponse RequestHandler::ListEvents(const RouteCall& call) {
  std::optional<std::map<std::string, std::string>> q = ParseQuery(call.query);
  if (!q) return ErrorResponse(MakeError(400, "invalid_request", "malformed query string"));
  Parsed<EventQuery> eq = ParseEventQuery(*q);
  if (!eq.ok()) return ErrorResponse(eq.error);
  Result<vault::EventPage> r = service_.ListEvents(call.caller, eq.value->after, eq.value->limit);
  if (!r.ok()) return Fail(r.status());
  return JsonResponse(200, EventPageJson(*r));
}

ApiResponse RequestHandler::ListCheckpoints(const RouteCall& call) {
  std::optional<std::map<std::string, std::string>> q = ParseQuery(call.query);
  if (!q) return ErrorResponse(MakeError(400, "invalid_request", "malformed query string"));
  Parsed<CheckpointQuery> cq = ParseCheckpointQuery(*q);
  if (!cq.ok()) return ErrorResponse(cq.error);
  Result<vault::CheckpointPage> r =
      service_.ListCheckpoints(call.caller, cq.value->after, cq.value->limit);
  if (!r.ok()) return Fail(r.status());
  return JsonResponse(200, CheckpointPageJson(*r));
}

ApiResponse RequestHandler::VerifyAudit(const RouteCall& call) {
  // ?expect_head=SEQ:HASH, as `vaultctl audit verify --expect-head`: a head kept outside.
  std::optional<std::map<std::string, std::string>> q = ParseQuery(call.query);
  if (!q) return ErrorResponse(MakeError(400, "invalid_request", "malformed query string"));
  std::optional<vault::AuditHead> expected;
  if (auto it = q->find("expect_head"); it != q->end()) {  // others are ignored, as /v1/audit
    Result<vault::AuditHead> head = vault::ParseAuditHead(it->second);
    if (!head.ok()) {
      return ErrorResponse(MakeError(400, "invalid_request",
                                     "expect_head must be SEQ:HASH (64 lowercase hex)"));
    }
    expected = std::move(*head);
  }
  Result<vault::AuditVerifyReport> r = service_.VerifyAudit(call.caller, expected);
  if (!r.ok()) return Fail(r.status());
  return JsonResponse(200, AuditVerifyJson(*r));
}

ApiResponse RequestHandler::GetMetrics(const RouteCall& call) {
  if (Status s = service_.AuthorizeMetrics(call.caller); !s.ok()) return Fail(s);
  ApiResponse resp;
  resp.status = 200;
  resp.content_type = "text/plain; version=0.0.4";
  resp.body = metrics_.Render();
  if (std::optional<std::int64_t> overdue = service_.OverdueRotations()) {
    resp.body += "# HELP vault_rotations_overdue Rotations pending longer than the deadline.\n";
    resp.body += "# TYPE vault_rotations_overdue gauge\n";
    resp.body += "vault_rotations_overdue " + std::to_string(*overdue) + "\n";
  }
  // Read now (two indexed rows); left out if the database cannot answer.
  if (Result<std::int64_t> age = service_.UndeliveredEventsAge(); age.ok()) {
    resp.body += "# HELP vault_events_undelivered_oldest_seconds Age of the oldest event no "
                 "notifier has asked past.\n";
    resp.body += "# TYPE vault_events_undelivered_oldest_seconds gauge\n";
    resp.body += "vault_events_undelivered_oldest_seconds " + std::to_string(*age) + "\n";
  }
  return resp;
}

ApiResponse RequestHandler::CurrentEscrowCertificate(const RouteCall& call) {
  Result<vault::EscrowCertificate> r = service_.CurrentEscrowCertificate(call.caller);
  if (!r.ok()) return Fail(r.status());
  return JsonResponse(200, EscrowCertificateJson(*r, false));
}

ApiResponse RequestHandler::DeviceEscrowCertificate(const RouteCall& call) {
  Result<vault::EscrowCertificate> r = service_.DeviceEscrowCertificate(call.caller, call.id);
  if (!r.ok()) return Fail(r.status());
  return JsonResponse(200, EscrowCertificateJson(*r, false));
}

ApiResponse RequestHandler::ListEscrowCertificates(const RouteCall& call) {
  Result<std::vector<vault::EscrowCertificate>> r = service_.ListEscrowCertificates(call.caller);
  if (!r.ok()) return Fail(r.status());
  return JsonResponse(200, EscrowCertificateListJson(*r));
}

ApiResponse RequestHandler::RequestAccess(const RouteCall& call) {
  Parsed<AccessRequestBody> parsed = ParseAccessRequest(call.request.body);
  if (!parsed.ok()) return ErrorResponse(parsed.error);
  Result<vault::AccessRequest> r = service_.RequestAccess(
      call.caller, call.id, parsed.value->reason, parsed.value->version);
  if (!r.ok()) return Fail(r.status());
  return JsonResponse(201, AccessRequestJson(*r));
}

ApiResponse RequestHandler::ListAccessRequests(const RouteCall& call) {
  std::optional<std::map<std::string, std::string>> q = ParseQuery(call.query);
  if (!q) return ErrorResponse(MakeError(400, "invalid_request", "malformed query string"));
  Parsed<AccessRequestQuery> aq = ParseAccessRequestQuery(*q);
  if (!aq.ok()) return ErrorResponse(aq.error);
  Result<vault::AccessRequestPage> r = service_.ListAccessRequests(
      call.caller, aq.value->state, aq.value->after, aq.value->limit);
  if (!r.ok()) return Fail(r.status());
  return JsonResponse(200, AccessRequestPageJson(*r));
}

ApiResponse RequestHandler::ApproveAccessRequest(const RouteCall& call) {
  return DecideAccessRequest(call, true);
}

ApiResponse RequestHandler::DenyAccessRequest(const RouteCall& call) {
  return DecideAccessRequest(call, false);
}

ApiResponse RequestHandler::DecideAccessRequest(const RouteCall& call, bool approve) {
  Parsed<std::string> note = ParseDecisionNote(call.request.body);
  if (!note.ok()) return ErrorResponse(note.error);
  Result<vault::AccessRequest> r =
      service_.DecideAccessRequest(call.caller, call.access_request_id, approve, *note.value);
  if (!r.ok()) return Fail(r.status());
  return JsonResponse(200, AccessRequestJson(*r));
}

}  // namespace escrow::api
