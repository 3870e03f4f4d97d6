#pragma once

#include <memory>
#include <string_view>

#include "base/result.h"
#include "portal/http_message.h"
#include "portal/session_store.h"

namespace escrow::portal {

// Production sign-in with the organisation's OpenID Connect provider (authorization code flow
// with PKCE). Start() redirects to the provider with state, nonce and the S256 challenge, and
// keeps state, nonce and verifier in a short-lived __Host- cookie with SameSite=Lax (the
// provider's redirect back is a cross-site navigation). Finish() checks the state against the
// cookie, redeems the code at the token endpoint, verifies the ID token (pinned algorithm,
// issuer, client id as audience, nonce) and the access token (for the vault's audience), and
// returns the session to start. Thread-safe.
class OidcSignIn {
 public:
  static constexpr std::string_view kStateCookie = "__Host-portal-oidc";

  virtual ~OidcSignIn() = default;
  virtual PortalResponse Start() = 0;
  // kUnauthenticated naming the failed check (never a token or code).
  virtual Result<Session> Finish(const PortalRequest& callback) = 0;

 protected:
  OidcSignIn() = default;
  OidcSignIn(const OidcSignIn&) = default;
  OidcSignIn& operator=(const OidcSignIn&) = default;
  OidcSignIn(OidcSignIn&&) = default;
  OidcSignIn& operator=(OidcSignIn&&) = default;
};

}  // namespace escrow::portal
