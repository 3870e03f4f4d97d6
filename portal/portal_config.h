#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"

namespace escrow::portal {

// A user the dev sign-in page offers, with the roles its token carries.
struct DevUser {
  std::string name;
  std::vector<std::string> roles;
};

// [dev_signin]: tokens minted by the development identity provider (only with dev = true).
struct DevSignIn {
  std::string signing_key;  // PEM EC P-256 private key (the dev IdP's)
  std::string issuer = "https://idp.dev.local";
  std::string audience = "escrow-vault";
  std::int64_t token_seconds = 3600;  // a session ends with its token
  std::vector<DevUser> users;
};

// [oidc]: the organisation's OpenID Connect provider (production sign-in).
struct OidcConfig {
  std::string issuer;              // empty: OIDC sign-in is off
  std::string client_id;
  std::string client_secret_file;  // mode 0600
  std::string redirect_uri;        // https://portal.example.com/auth/callback
  std::string vault_audience;      // the audience of the access token vaultd accepts
  std::string ca;                  // CA bundle for the provider (empty: the system store)
  // Explicit endpoints; when all three are set discovery is skipped.
  std::string authorization_endpoint;
  std::string token_endpoint;
  std::string jwks_uri;
  std::string scope = "openid";
};

// portal.conf (TOML), as `vaultctl init --dev` writes it. Unknown keys are refused; relative
// paths are taken from the config file's folder.
struct PortalConfig {
  bool dev = false;
  std::string listen = "127.0.0.1:8444";
  std::string static_dir;  // empty: the pages built in (the source tree's portal/static)
  std::string tls_cert;
  std::string tls_key;  // must not be group- or world-readable
  // The vault, called over mTLS as the frontend client.
  std::string vault_url = "https://127.0.0.1:8443";
  std::string vault_ca;
  std::string client_cert;
  std::string client_key;
  std::chrono::milliseconds vault_timeout{10000};
  std::int64_t max_sessions = 10000;
  DevSignIn dev_signin;
  OidcConfig oidc;
};

// Reads and checks `path`. kInvalidArgument naming the key for a syntax error, an unknown
// key, a value of the wrong type or range, a [dev_signin] section without dev = true, or neither
// [dev_signin] nor [oidc]; kNotFound if the file cannot be read.
Result<PortalConfig> LoadPortalConfig(const std::string& path);

// The same from text, with relative paths taken from `base_dir`.
Result<PortalConfig> ParsePortalConfig(const std::string& text, const std::string& base_dir);

}  // namespace escrow::portal
