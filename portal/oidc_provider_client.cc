#include "portal/oidc_provider_client.h"

namespace escrow::portal {

Result<std::unique_ptr<OidcSignIn>> MakeOidcSignIn(const OidcConfig& /*config*/,
                                                   const Clock& /*clock*/) {
  // TODO(portal): the authorization code flow with PKCE (issue 17, step 5).
  return Status::FailedPrecondition("OpenID Connect sign-in is not built yet; use dev mode");
}

}  // namespace escrow::portal
