#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/secret_bytes.h"

namespace escrow::portal {

// A signed-in user, as the server keeps it. The bearer token never leaves the server.
struct Session {
  std::string user;
  std::vector<std::string> roles;
  std::string csrf;      // sent to the page; every POST must carry it back
  std::string token;     // the access token vaultd receives
  std::int64_t exp = 0;  // unix seconds: the session ends with its token
};

// Server-side sessions, keyed by SHA-256 of a random 256-bit id that only the browser holds
// (in the __Host- session cookie), so the store itself never holds a usable cookie value.
// Lookups compare the full digest with CRYPTO_memcmp. Bounded: past `max_sessions`, expired
// sessions go first, then the one that ends soonest. Thread-safe (one mutex).
class SessionStore {
 public:
  SessionStore(const Clock& clock, std::size_t max_sessions)
      : clock_(clock), max_sessions_(max_sessions) {}

  // Stores `session` and returns its id (base64url, 43 characters) for the cookie.
  std::string Create(Session session);
  // The live session for a cookie value; nullopt for an unknown, malformed or expired id
  // (an expired one is also removed).
  std::optional<Session> Find(std::string_view id);
  // Ends the session (sign-out). Unknown ids are ignored.
  void Remove(std::string_view id);
  std::size_t size() const;

  // Random base64url of `bytes` random bytes (session ids, CSRF tokens, OIDC state).
  static std::string RandomToken(std::size_t bytes = 32);
  // Constant-time equality of two tokens (lengths are not secret).
  static bool TokensEqual(std::string_view a, std::string_view b);

 private:
  static std::string Digest(std::string_view id);
  void EvictLocked(std::int64_t now);

  const Clock& clock_;
  const std::size_t max_sessions_;
  mutable std::mutex mu_;
  std::map<std::string, Session> sessions_;  // by Digest(id)
};

}  // namespace escrow::portal
