#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace escrow::ops {

// The claims of a development identity-provider token. Times are Unix seconds.
struct DevTokenClaims {
  std::string iss;
  std::string sub;
  std::string aud;
  std::int64_t iat = 0;
  std::int64_t exp = 0;
  std::optional<std::int64_t> nbf;
  std::vector<std::string> roles;  // always written, as a JSON array (empty if none)
};

// Mints an ES256 JWT for `claims` with the EC P-256 PEM private key at `key_path` (the dev
// IdP's key): header {"alg":"ES256","typ":"JWT","kid":"dev"}, JOSE raw r||s signature,
// base64url without padding. Returns the compact serialisation. kNotFound if the key cannot
// be read, kInvalidArgument if it is not an EC P-256 private key, kInternal if signing fails.
// Development only: a production vault never holds an IdP signing key.
Result<std::string> MintDevToken(const DevTokenClaims& claims,
                                 const std::filesystem::path& key_path);

// The JSON payload MintDevToken signs (claims in a fixed order).
std::string DevTokenPayload(const DevTokenClaims& claims);

// Unpadded base64url (RFC 7515 section 2).
std::string Base64UrlNoPad(std::span<const std::uint8_t> bytes);

// Splits "a,b,,c" into {"a","b","c"} (empty items dropped, no trimming beyond spaces).
std::vector<std::string> SplitRoles(std::string_view list);

}  // namespace escrow::ops
