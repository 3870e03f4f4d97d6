#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

// OpenSSL's EVP_PKEY (`typedef struct evp_pkey_st EVP_PKEY` in <openssl/types.h>), declared
// here so this header does not pull OpenSSL into every includer.
struct evp_pkey_st;

namespace escrow::auth {

// A public key that may verify identity-provider tokens, with the one algorithm pinned to
// its type: EC P-256 => ES256, RSA of 2048..8192 bits => RS256. The algorithm is never taken
// from a token, so an "alg" header can only narrow, never widen, what a key accepts.
// Immutable after loading; the EVP_PKEY is shared read-only by copies and by every thread.
struct JwtKey {
  enum class Alg { kES256, kRS256 };

  std::string kid;  // may be empty: then only tokens without "kid" can select it
  Alg alg = Alg::kES256;
  std::shared_ptr<evp_pkey_st> pkey;  // public key; freed with EVP_PKEY_free
};

// "ES256" or "RS256".
std::string_view AlgName(JwtKey::Alg alg);

// Pins the algorithm for `pkey` (which must hold a public key; a private part is ignored).
// InvalidArgument for a null key, any type other than EC P-256 or RSA, an RSA modulus outside
// 2048..8192 bits, or a key that fails OpenSSL's public-key check.
Result<JwtKey> MakeJwtKey(std::string kid, std::shared_ptr<evp_pkey_st> pkey);

// Loads one key from PEM text holding exactly one "PUBLIC KEY" (SubjectPublicKeyInfo) or
// "CERTIFICATE" block (the certificate's key is used; its validity and chain are not
// checked, the key itself is what is pinned). InvalidArgument for anything else,
// including private keys.
Result<JwtKey> JwtKeyFromPem(std::string_view pem, std::string kid);

// Loads the signing keys of a JWKS document (RFC 7517): {"keys":[{"kty":"EC","crv":"P-256",
// "x","y","kid"}, {"kty":"RSA","n","e","kid"}]}. Keys whose "use" is not "sig" are skipped.
// The whole document is rejected (InvalidArgument) if any key carries private material
// ("d"), has an unknown "kty" or curve, has an "alg" that contradicts its type, repeats a
// non-empty "kid", or is malformed; the document itself must not repeat a JSON key.
Result<std::vector<JwtKey>> JwtKeysFromJwks(std::string_view json);

// The same from files. NotFound if the file cannot be read.
Result<JwtKey> LoadJwtKeyPemFile(const std::filesystem::path& path, std::string kid);
Result<std::vector<JwtKey>> LoadJwksFile(const std::filesystem::path& path);

// True if `text` is one JSON value with no object repeating a key at any depth, nested at
// most `max_depth` deep. boost::json keeps the last of duplicate keys while other parsers
// keep the first; rejecting them means the vault and the identity provider cannot read
// different claims out of the same signed bytes. Shared by the JWKS loader and JwtVerifier.
bool IsStrictJson(std::string_view text, std::size_t max_depth = 32);

}  // namespace escrow::auth
