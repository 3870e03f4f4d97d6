#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "auth/jwks.h"
#include "base/clock.h"
#include "base/result.h"

namespace escrow::auth {

// What a bearer token must say to be accepted (API.md, "Who is calling").
struct JwtPolicy {
  std::vector<std::string> issuers;  // "iss" must equal one; empty rejects every token
  std::string audience;              // "aud" (string, or array of strings) must contain it
  std::string owner_claim = "sub";   // the claim naming the user
  std::chrono::seconds skew{60};     // allowed clock difference for "exp" and "nbf"
};

// The caller a token vouches for.
struct VerifiedToken {
  std::string user;                // the owner claim, byte for byte
  std::vector<std::string> roles;  // "roles", empty when absent; unknown roles are kept
  std::int64_t exp = 0;            // unix seconds
};

// Verifies identity-provider JWTs (compact JWS, RFC 7515/7519) against pinned keys.
//
// The algorithm comes from the key, never from the token: the header's "alg" only selects
// among the keys already pinned to it, so "none", HMAC-with-the-public-key and
// ES256-vs-RSA confusions cannot verify. The signature is checked before any claim is read.
// Duplicate JSON keys, "crit", and claims of the wrong JSON type are rejected rather than
// interpreted.
//
// Tokens that pass every check are remembered in a bounded cache keyed by the SHA-256 of the
// whole token text (never the text itself), so a repeated bearer token skips decoding,
// parsing and the signature check; exp and nbf are still checked against `now` on every call.
// The keys and policy are immutable after Create, so a cached result can never be
// invalidated by a key change; a separately created verifier starts with its own empty cache.
//
// Verify is const and safe to call from any thread. Copies share the keys and the cache.
class JwtVerifier {
 public:
  static constexpr std::size_t kMaxTokenBytes = std::size_t{8} * 1024;
  static constexpr std::size_t kMaxOwnerBytes = 256;
  // When full, expired entries are dropped first, then the oldest inserted.
  static constexpr std::size_t kMaxCachedTokens = 4096;

  // InvalidArgument if `keys` is empty, a key is null or its alg is not the one pinned to
  // its type (see MakeJwtKey), two keys share a non-empty kid, the audience or owner claim
  // is empty, or the skew is outside 0..3600 s.
  static Result<JwtVerifier> Create(std::vector<JwtKey> keys, JwtPolicy policy);

  // The verified caller, or Unauthenticated (reason "unauthenticated") whose message names
  // the first failed check ("token expired", "unknown kid", "bad signature", ...). Messages
  // never include the token or any of its contents.
  Result<VerifiedToken> Verify(std::string_view token, TimePoint now) const;

  // Entries in the (shared) cache, for tests.
  std::size_t cached_tokens() const;

 private:
  class TokenCache;

  JwtVerifier(std::vector<JwtKey> keys, JwtPolicy policy);

  std::vector<JwtKey> keys_;
  JwtPolicy policy_;
  std::shared_ptr<TokenCache> cache_;  // null only in a moved-from verifier
};

}  // namespace escrow::auth
