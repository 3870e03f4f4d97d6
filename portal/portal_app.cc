#include "portal/portal_app.h"

#include <exception>

#include <boost/json.hpp>

#include "base/log.h"
#include "portal/oidc_sign_in.h"
#include "portal/vault_forward.h"

namespace escrow::portal {
namespace {

// Pages anyone may load: the sign-in page and what it needs.
bool IsPublic(std::string_view path) {
  return path == "/signin" || path.rfind("/static/", 0) == 0;
}

bool IsWrite(std::string_view method) { return method != "GET" && method != "HEAD"; }

// A write must come from our own pages: a browser that says where a request comes from must
// say same-origin (CSRF tokens are checked too; this stops a forged form before it reaches
// them, and Sec-Fetch-Site cannot be set by scripts).
bool FromOtherSite(const PortalRequest& r) {
  return !r.sec_fetch_site.empty() && r.sec_fetch_site != "same-origin" &&
         r.sec_fetch_site != "none";
}

PortalResponse Forbidden() {
  return JsonError(403, "forbidden", "Missing or wrong CSRF token. Reload the page and try again.");
}

}  // namespace

std::string HostCookie(std::string_view name, std::string_view value, std::int64_t max_age,
                       std::string_view same_site) {
  return std::string(name) + "=" + std::string(value) + "; Path=/; Secure; HttpOnly; SameSite=" +
         std::string(same_site) + "; Max-Age=" + std::to_string(max_age);
}

PortalApp::PortalApp(const PortalConfig& config, const Clock& clock, StaticFiles files,
                     std::unique_ptr<HttpsClient> vault, std::optional<auth::JwtSigner> dev_signer,
                     std::unique_ptr<OidcSignIn> oidc)
    : config_(config),
      clock_(clock),
      files_(std::move(files)),
      vault_(std::move(vault)),
      dev_signer_(std::move(dev_signer)),
      oidc_(std::move(oidc)),
      sessions_(clock, static_cast<std::size_t>(config.max_sessions)) {}

PortalApp::~PortalApp() = default;

PortalResponse PortalApp::Handle(PortalRequest& request) {
  try {
    return Dispatch(request);
  } catch (const std::exception& e) {
    LogError("portal_error", e.what());
    return JsonError(500, "internal", "Something went wrong. Try again.");
  }
}

PortalResponse PortalApp::Dispatch(PortalRequest& request) {
  const std::string& path = request.path;
  std::optional<Session> session;
  if (std::optional<std::string_view> id = CookieValue(request.cookie, kSessionCookie)) {
    session = sessions_.Find(*id);
  }
  if (IsWrite(request.method) && FromOtherSite(request)) return Forbidden();

  // Sign-in and sign-out.
  if (path == "/api/dev/users" && request.method == "GET" && dev_signer_) return DevUsers();
  if (path == "/auth/dev-signin" && request.method == "POST" && dev_signer_) {
    return DevSignIn(request);
  }
  if (path == "/auth/signout" && request.method == "POST") return SignOut(request, session);
  if (oidc_ && path == "/auth/login" && request.method == "GET") return oidc_->Start();
  if (oidc_ && path == "/auth/callback" && request.method == "GET") {
    Result<Session> signed_in = oidc_->Finish(request);
    if (!signed_in.ok()) {
      LogInfo("signin_refused", signed_in.status().message());
      PortalResponse r = JsonError(400, "signin_failed", "Sign-in failed. Try again.");
      r.headers.emplace_back("Set-Cookie", HostCookie(OidcSignIn::kStateCookie, "", 0, "Lax"));
      return r;
    }
    // A page, not a redirect: this answer ends a cross-site navigation, and a browser does not
    // send the new Strict cookie on a redirect within it. The page's own (same-site)
    // navigation to "/" does.
    PortalResponse r = StartSession(std::move(*signed_in), "/");
    r.status = 200;
    r.content_type = "text/html; charset=utf-8";
    r.body =
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Signed in</title>"
        "<meta http-equiv=\"refresh\" content=\"0;url=/\"></head><body><p>Signed in. "
        "<a href=\"/\">Continue to Company Portal</a></p></body></html>";
    std::erase_if(r.headers, [](const auto& h) { return h.first == "Location"; });
    r.headers.emplace_back("Set-Cookie", HostCookie(OidcSignIn::kStateCookie, "", 0, "Lax"));
    return r;
  }

  if (path.rfind("/api/", 0) == 0) {
    if (!session) return JsonError(401, "unauthenticated", "Sign in again.");
    if (IsWrite(request.method) &&
        !SessionStore::TokensEqual(request.csrf_header, session->csrf)) {
      return Forbidden();
    }
    if (path == "/api/session" && request.method == "GET") return SessionInfo(*session);
    return ForwardToVault(request, *session, *vault_);
  }
  if (request.method != "GET" && request.method != "HEAD") {
    return JsonError(405, "method_not_allowed", "Method not allowed.");
  }
  return Page(request, session);
}

PortalResponse PortalApp::Page(const PortalRequest& request,
                               const std::optional<Session>& session) const {
  if (!session && !IsPublic(request.path)) {
    return Redirect(oidc_ && !dev_signer_ ? "/auth/login" : "/signin", 302);
  }
  if (request.path == "/signin" && !dev_signer_) {
    return Redirect(oidc_ ? "/auth/login" : "/", 302);
  }
  const StaticFiles::File* file = files_.Find(request.path);
  if (file == nullptr) {
    PortalResponse r;
    r.status = 404;
    r.content_type = "text/plain; charset=utf-8";
    r.body = "Not found.";
    return r;
  }
  PortalResponse r;
  r.content_type = file->content_type;
  r.body = file->body;
  return r;
}

PortalResponse PortalApp::SessionInfo(const Session& session) const {
  boost::json::array roles;
  for (const std::string& role : session.roles) roles.emplace_back(role);
  boost::json::object info{{"user", session.user},
                           {"roles", roles},
                           {"csrf", session.csrf},
                           {"expires_at", FormatRfc3339(FromUnixSeconds(session.exp))},
                           {"dev", dev_signer_.has_value()}};
  PortalResponse r;
  r.body = boost::json::serialize(info);
  return r;
}

PortalResponse PortalApp::DevUsers() const {
  boost::json::array users;
  for (const DevUser& u : config_.dev_signin.users) {
    boost::json::array roles;
    for (const std::string& role : u.roles) roles.emplace_back(role);
    users.push_back(boost::json::object{{"name", u.name}, {"roles", roles}});
  }
  // Sign-in CSRF: the form must echo the value of this short-lived cookie.
  const std::string token = SessionStore::RandomToken();
  PortalResponse r;
  r.body = boost::json::serialize(boost::json::object{{"users", users}, {"csrf", token}});
  r.headers.emplace_back("Set-Cookie", HostCookie(kSignInCookie, token, 600));
  return r;
}

PortalResponse PortalApp::DevSignIn(const PortalRequest& request) {
  const std::optional<std::string_view> cookie = CookieValue(request.cookie, kSignInCookie);
  const std::optional<std::string> csrf = FormValue(request.body, "csrf");
  if (!cookie || !csrf || !SessionStore::TokensEqual(*cookie, *csrf)) return Forbidden();
  const std::optional<std::string> user = FormValue(request.body, "user");
  const DevUser* chosen = nullptr;
  for (const DevUser& u : config_.dev_signin.users) {
    if (user && u.name == *user) chosen = &u;
  }
  if (chosen == nullptr) return JsonError(400, "invalid_request", "Pick one of the listed users.");
  const std::int64_t now = ToUnixSeconds(clock_.Now());
  Session session;
  session.user = chosen->name;
  session.roles = chosen->roles;
  session.exp = now + config_.dev_signin.token_seconds;
  boost::json::array roles;
  for (const std::string& role : chosen->roles) roles.emplace_back(role);
  const boost::json::object claims{{"iss", config_.dev_signin.issuer},
                                   {"sub", chosen->name},
                                   {"aud", config_.dev_signin.audience},
                                   {"iat", now},
                                   {"exp", session.exp},
                                   {"roles", roles}};
  Result<std::string> token = dev_signer_->Sign(boost::json::serialize(claims));
  if (!token.ok()) {
    LogError("dev_signin", token.status().message());
    return JsonError(500, "internal", "Could not sign in.");
  }
  session.token = std::move(*token);
  PortalResponse r = StartSession(std::move(session), "/");
  r.headers.emplace_back("Set-Cookie", HostCookie(kSignInCookie, "", 0));
  return r;
}

PortalResponse PortalApp::StartSession(Session session, std::string location) {
  session.csrf = SessionStore::RandomToken();
  const std::int64_t max_age = session.exp - ToUnixSeconds(clock_.Now());
  const std::string user = session.user;
  const std::string id = sessions_.Create(std::move(session));
  LogJson({{"event", "signin"}, {"user", user}});
  PortalResponse r = Redirect(std::move(location));
  r.headers.emplace_back("Set-Cookie", HostCookie(kSessionCookie, id, max_age));
  return r;
}

PortalResponse PortalApp::SignOut(const PortalRequest& request,
                                  const std::optional<Session>& session) {
  // Without a live session there is nothing to end (and nothing to forge): back to sign-in.
  const std::optional<std::string> csrf = FormValue(request.body, "csrf");
  if (session && (!csrf || !SessionStore::TokensEqual(*csrf, session->csrf))) return Forbidden();
  if (std::optional<std::string_view> id = CookieValue(request.cookie, kSessionCookie)) {
    sessions_.Remove(*id);
  }
  PortalResponse r = Redirect(dev_signer_ ? "/signin" : "/auth/login");
  r.headers.emplace_back("Set-Cookie", HostCookie(kSessionCookie, "", 0));
  return r;
}

}  // namespace escrow::portal
