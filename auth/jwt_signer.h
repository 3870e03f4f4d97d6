#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "base/result.h"

struct evp_pkey_st;

namespace escrow::auth {

// Signs compact JWS (RFC 7515) with an EC P-256 private key: ES256, JOSE's raw r||s
// signature, base64url without padding. For development identity providers and the tests'
// OpenID Connect provider only: a production portal or vault never holds an IdP signing key.
// Immutable after loading; Sign is const and safe from any thread.
class JwtSigner {
 public:
  // Loads a PEM private key. kNotFound if the file cannot be read, kInvalidArgument if it is
  // not an EC P-256 private key.
  static Result<JwtSigner> FromPemFile(const std::filesystem::path& path, std::string kid);

  // header {"alg":"ES256","typ":"JWT"[,"kid":kid]} . payload_json . signature.
  // kInternal if signing fails. The payload is taken as given (the caller serialises it).
  Result<std::string> Sign(std::string_view payload_json) const;

  // The public key as a JWKS document {"keys":[{"kty":"EC","crv":"P-256","x","y",
  // "use":"sig","alg":"ES256"[,"kid"]}]}.
  Result<std::string> PublicJwks() const;

 private:
  JwtSigner(std::shared_ptr<evp_pkey_st> key, std::string kid)
      : key_(std::move(key)), kid_(std::move(kid)) {}
  std::shared_ptr<evp_pkey_st> key_;
  std::string kid_;
};

}  // namespace escrow::auth
