#pragma once

#include <memory>

#include "base/clock.h"
#include "base/result.h"
#include "portal/oidc_sign_in.h"
#include "portal/portal_config.h"

namespace escrow::portal {

// The OpenID Connect sign-in for [oidc]: reads the client secret, fetches the discovery
// document (unless the three endpoints are given) and the provider's JWKS. kInvalidArgument
// for a bad config, kUnavailable if the provider cannot be reached at start.
Result<std::unique_ptr<OidcSignIn>> MakeOidcSignIn(const OidcConfig& config, const Clock& clock);

}  // namespace escrow::portal
