#include "api/rate_limiter.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>

#include "base/ssl_ptr.h"

namespace escrow::api {

RateLimiter::RateLimiter(vault::RateLimit limit, std::size_t capacity)
    : limit_(limit), capacity_(std::max<std::size_t>(capacity, 1)) {
  if (limit_.enabled()) index_.reserve(std::min<std::size_t>(capacity_, 4096));
  // Without randomness the salt stays zero: still bounded, only collisions become computable.
  (void)RAND_bytes(salt_.data(), static_cast<int>(salt_.size()));
}

std::size_t RateLimiter::size() const {
  std::lock_guard lock(mu_);
  return index_.size();
}

RateLimiter::Digest RateLimiter::DigestOf(std::string_view key) const {
  std::array<std::uint8_t, EVP_MAX_MD_SIZE> md{};
  unsigned int md_len = 0;
  Digest digest{};
  const SslPtr<EVP_MD_CTX> ctx(EVP_MD_CTX_new());
  if (ctx != nullptr && EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) == 1 &&
      EVP_DigestUpdate(ctx.get(), salt_.data(), salt_.size()) == 1 &&
      EVP_DigestUpdate(ctx.get(), key.data(), key.size()) == 1 &&
      EVP_DigestFinal_ex(ctx.get(), md.data(), &md_len) == 1) {
    std::copy_n(md.begin(), digest.size(), digest.begin());
  }  // else every key shares one counter: stricter, never looser
  return digest;
}

LimitDecision RateLimiter::Peek(std::string_view key, SteadyTime now) const {
  LimitDecision d;
  if (!limit_.enabled()) return d;
  const auto window =
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(limit_.window);
  const Digest digest = DigestOf(key);
  std::lock_guard lock(mu_);
  auto it = index_.find(digest);
  if (it == index_.end() || now - it->second->start >= window) return d;
  const Window& w = *it->second;
  d.count = w.count;
  if (w.count < limit_.count) return d;
  d.allowed = false;
  const auto left = std::chrono::ceil<std::chrono::seconds>(w.start + window - now).count();
  d.retry_after_seconds = left < 1 ? 1 : left;
  return d;
}

LimitDecision RateLimiter::Hit(std::string_view key, SteadyTime now) {
  LimitDecision d;
  if (!limit_.enabled()) return d;
  const auto window =
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(limit_.window);
  const Digest digest = DigestOf(key);

  std::lock_guard lock(mu_);
  // Windows that ended more than a window ago carry nothing forward.
  while (!order_.empty() && now - order_.front().start >= 2 * window) {
    index_.erase(order_.front().key);
    order_.pop_front();
  }
  auto it = index_.find(digest);
  if (it == index_.end()) {
    if (index_.size() >= capacity_) {
      index_.erase(order_.front().key);
      order_.pop_front();
    }
    order_.push_back(Window{digest, now, 0});
    it = index_.emplace(digest, std::prev(order_.end())).first;
    d.first_hit = true;
  } else if (now - it->second->start >= window) {
    d.previous_count = it->second->count;  // ended less than a window ago (kept above)
    it->second->start = now;
    it->second->count = 0;
    order_.splice(order_.end(), order_, it->second);  // the newest start now
    d.first_hit = true;
  }
  Window& w = *it->second;
  ++w.count;
  d.count = w.count;
  if (w.count <= limit_.count) return d;
  d.allowed = false;
  d.first_denial = w.count == limit_.count + 1;
  const auto left = std::chrono::ceil<std::chrono::seconds>(w.start + window - now).count();
  d.retry_after_seconds = left < 1 ? 1 : left;
  return d;
}

}  // namespace escrow::api
