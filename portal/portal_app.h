#pragma once

#include <memory>
#include <optional>
#include <string>

#include "auth/jwt_signer.h"
#include "base/clock.h"
#include "portal/http_message.h"
#include "portal/portal_config.h"
#include "portal/session_store.h"
#include "portal/static_files.h"
#include "portal/https_client.h"

namespace escrow::portal {

class OidcSignIn;

// Everything behind the portal's socket: the pages, sign-in and sign-out, the session and CSRF
// checks, and the JSON API forwarded to vaultd. Pure request in, response out (no sockets),
// so tests drive it directly. Handle is safe from several threads at once: the session store
// locks, everything else is read-only after construction.
class PortalApp {
 public:
  static constexpr std::string_view kSessionCookie = "__Host-portal-session";
  static constexpr std::string_view kSignInCookie = "__Host-portal-signin";

  // `dev_signer` is set only in dev mode (dev = true, on loopback: portald checks both);
  // `oidc` only when [oidc] is configured. Both may be null (then no one can sign in).
  PortalApp(const PortalConfig& config, const Clock& clock, StaticFiles files,
            std::unique_ptr<HttpsClient> vault, std::optional<auth::JwtSigner> dev_signer,
            std::unique_ptr<OidcSignIn> oidc);
  PortalApp(const PortalApp&) = delete;  // owns the session store
  PortalApp& operator=(const PortalApp&) = delete;
  PortalApp(PortalApp&&) = delete;
  PortalApp& operator=(PortalApp&&) = delete;
  ~PortalApp();

  // Never throws; a handler's exception becomes a 500.
  PortalResponse Handle(PortalRequest& request);

  SessionStore& sessions() { return sessions_; }

 private:
  PortalResponse Dispatch(PortalRequest& request);
  PortalResponse Page(const PortalRequest& request, const std::optional<Session>& session) const;
  PortalResponse SessionInfo(const Session& session) const;
  PortalResponse DevUsers() const;
  PortalResponse DevSignIn(const PortalRequest& request);
  PortalResponse SignOut(const PortalRequest& request, const std::optional<Session>& session);
  PortalResponse StartSession(Session session, std::string location);

  const PortalConfig& config_;
  const Clock& clock_;
  StaticFiles files_;
  std::unique_ptr<HttpsClient> vault_;
  std::optional<auth::JwtSigner> dev_signer_;
  std::unique_ptr<OidcSignIn> oidc_;
  SessionStore sessions_;
};

// "NAME=VALUE; Path=/; Secure; HttpOnly; SameSite=<same_site>; Max-Age=<seconds>".
std::string HostCookie(std::string_view name, std::string_view value, std::int64_t max_age,
                       std::string_view same_site = "Strict");

}  // namespace escrow::portal
