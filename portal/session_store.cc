#include "portal/session_store.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <array>
#include <stdexcept>

#include "auth/base64url.h"

namespace escrow::portal {

std::string SessionStore::RandomToken(std::size_t bytes) {
  std::vector<std::uint8_t> raw(bytes);
  if (RAND_bytes(raw.data(), static_cast<int>(raw.size())) != 1) {
    // No randomness, no session: the caller's handler answers 500.
    throw std::runtime_error("RAND_bytes failed");
  }
  std::string out = auth::Base64UrlEncode(raw);
  Cleanse(raw.data(), raw.size());
  return out;
}

bool SessionStore::TokensEqual(std::string_view a, std::string_view b) {
  return a.size() == b.size() && !a.empty() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string SessionStore::Digest(std::string_view id) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  if (EVP_Digest(id.data(), id.size(), md.data(), &len, EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("EVP_Digest failed");
  }
  return {reinterpret_cast<const char*>(md.data()), len};  // NOLINT: bytes as chars
}

std::string SessionStore::Create(Session session) {
  std::string id = RandomToken();
  std::lock_guard lock(mu_);
  EvictLocked(ToUnixSeconds(clock_.Now()));
  sessions_[Digest(id)] = std::move(session);
  return id;
}

std::optional<Session> SessionStore::Find(std::string_view id) {
  if (id.size() != 43) return std::nullopt;  // 32 bytes in base64url
  const std::string digest = Digest(id);
  std::lock_guard lock(mu_);
  auto it = sessions_.lower_bound(digest);
  if (it == sessions_.end() || !TokensEqual(it->first, digest)) return std::nullopt;
  if (it->second.exp <= ToUnixSeconds(clock_.Now())) {
    sessions_.erase(it);
    return std::nullopt;
  }
  return it->second;
}

void SessionStore::Remove(std::string_view id) {
  const std::string digest = Digest(id);
  std::lock_guard lock(mu_);
  sessions_.erase(digest);
}

std::size_t SessionStore::size() const {
  std::lock_guard lock(mu_);
  return sessions_.size();
}

void SessionStore::EvictLocked(std::int64_t now) {
  std::erase_if(sessions_, [now](const auto& kv) { return kv.second.exp <= now; });
  while (!sessions_.empty() && sessions_.size() >= max_sessions_) {
    auto soonest = sessions_.begin();
    for (auto it = sessions_.begin(); it != sessions_.end(); ++it) {
      if (it->second.exp < soonest->second.exp) soonest = it;
    }
    sessions_.erase(soonest);
  }
}

}  // namespace escrow::portal
