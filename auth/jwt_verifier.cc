#include "auth/jwt_verifier.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <unordered_map>
#include <utility>

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "auth/base64url.h"
#include "base/ssl_ptr.h"

namespace escrow::auth {
namespace {

constexpr std::size_t kEs256SignatureBytes = 64;  // r || s, 32 bytes each (RFC 7518 3.4)
// NumericDates beyond 2^53 s are not integers in every JSON reader, and bounding them keeps
// `exp + skew` far from overflow.
constexpr std::int64_t kMaxNumericDate = std::int64_t{1} << 53;
constexpr std::chrono::seconds kMaxSkew{3600};

Status Reject(std::string message) {
  return Status::Unauthenticated(std::move(message), "unauthenticated");
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

// Parses `text` into `out` (which must use the storage to allocate from) and returns it as
// an object, or nullptr if it is not a JSON object without duplicate keys.
const boost::json::object* ParseObject(std::string_view text, boost::json::value& out) {
  if (!IsStrictJson(text)) return nullptr;
  boost::json::error_code ec;
  // Same storage on both sides, so the move-assignment below transfers instead of copying.
  out = boost::json::parse(text, ec, out.storage());
  if (ec) return nullptr;
  return out.if_object();
}

// A JSON number that is an integer (an integral double included) within +-2^53; nullopt
// for other values, bools and strings among them.
std::optional<std::int64_t> NumericDate(const boost::json::value& v) {
  if (v.is_int64()) {
    const std::int64_t i = v.get_int64();
    if (i >= -kMaxNumericDate && i <= kMaxNumericDate) return i;
  } else if (v.is_uint64()) {
    const std::uint64_t u = v.get_uint64();
    if (u <= static_cast<std::uint64_t>(kMaxNumericDate)) return static_cast<std::int64_t>(u);
  } else if (v.is_double()) {
    const double d = v.get_double();
    const auto limit = static_cast<double>(kMaxNumericDate);
    if (std::isfinite(d) && std::trunc(d) == d && d >= -limit && d <= limit) {
      return static_cast<std::int64_t>(d);
    }
  }
  return std::nullopt;
}

// Verifies `signature` over `signing_input` with `key` under its pinned algorithm.
// Always leaves OpenSSL's thread-local error queue empty: a stale error would be read by the
// next SSL_get_error on this (io) thread.
bool VerifySignature(const JwtKey& key, std::string_view signing_input,
                     std::span<const std::uint8_t> signature) {
  std::array<unsigned char, 80> der{};  // SEQUENCE of two INTEGERs <= 33 bytes: <= 72
  std::span<const std::uint8_t> sig = signature;
  if (key.alg == JwtKey::Alg::kES256) {
    if (signature.size() != kEs256SignatureBytes) return false;
    SslPtr<ECDSA_SIG> ecdsa(ECDSA_SIG_new());
    SslPtr<BIGNUM> r(BN_bin2bn(signature.data(), 32, nullptr));
    SslPtr<BIGNUM> s(BN_bin2bn(signature.data() + 32, 32, nullptr));
    if (ecdsa == nullptr || r == nullptr || s == nullptr ||
        ECDSA_SIG_set0(ecdsa.get(), r.get(), s.get()) != 1) {
      ERR_clear_error();
      return false;
    }
    (void)r.release();  // now owned by `ecdsa`
    (void)s.release();
    const int der_len = i2d_ECDSA_SIG(ecdsa.get(), nullptr);
    if (der_len <= 0 || static_cast<std::size_t>(der_len) > der.size()) {
      ERR_clear_error();
      return false;
    }
    unsigned char* p = der.data();
    i2d_ECDSA_SIG(ecdsa.get(), &p);
    sig = std::span<const std::uint8_t>(der.data(), static_cast<std::size_t>(der_len));
  } else if (signature.size() != static_cast<std::size_t>(EVP_PKEY_get_size(key.pkey.get()))) {
    return false;
  }

  SslPtr<EVP_MD_CTX> ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;  // owned by ctx
  bool ok = ctx != nullptr &&
            EVP_DigestVerifyInit(ctx.get(), &pctx, EVP_sha256(), nullptr, key.pkey.get()) == 1;
  if (ok && key.alg == JwtKey::Alg::kRS256) {
    ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1;
  }
  ok = ok && EVP_DigestVerify(ctx.get(), sig.data(), sig.size(),
                              reinterpret_cast<const unsigned char*>(signing_input.data()),
                              signing_input.size()) == 1;
  ERR_clear_error();
  return ok;
}

// The header checks that come before any key is touched. Returns the header's alg.
Result<JwtKey::Alg> CheckHeader(const boost::json::object& header) {
  const boost::json::value* alg = header.if_contains("alg");
  if (alg == nullptr || !alg->is_string()) return Reject("token header has no alg");
  const boost::json::string& name = alg->get_string();
  JwtKey::Alg header_alg{};
  if (name == "ES256") {
    header_alg = JwtKey::Alg::kES256;
  } else if (name == "RS256") {
    header_alg = JwtKey::Alg::kRS256;
  } else {
    // "none", every HS*, and anything else: the keys pin ES256 or RS256 only.
    return Reject("algorithm not allowed");
  }
  // We understand no extension, so per RFC 7515 4.1.11 a token that needs one is invalid.
  if (header.contains("crit")) return Reject("critical header not supported");
  if (const boost::json::value* typ = header.if_contains("typ")) {
    if (!typ->is_string() || !(EqualsIgnoreCase(typ->get_string(), "JWT") ||
                               EqualsIgnoreCase(typ->get_string(), "at+jwt"))) {
      return Reject("bad token type");
    }
  }
  // jku, x5u, jwk and x5c are ignored: keys come from configuration only.
  return header_alg;
}

// A token's validity window, give or take `skew`. Shared by fresh and cached tokens, so a
// cache hit is accepted and rejected at exactly the same instants.
bool Expired(std::int64_t exp, std::int64_t now, std::int64_t skew) { return now > exp + skew; }

Status CheckWindow(std::int64_t exp, std::optional<std::int64_t> nbf, std::int64_t now,
                   std::int64_t skew) {
  if (Expired(exp, now, skew)) return Reject("token expired");
  if (nbf && now + skew < *nbf) return Reject("token not yet valid");
  return Status::Ok();
}

struct TimeClaims {
  std::int64_t exp = 0;
  std::optional<std::int64_t> nbf;
};

// The "exp" and (optional) "nbf" claims, if well-formed and `now` is within their window.
Result<TimeClaims> CheckTimes(const boost::json::object& claims, std::int64_t now,
                              std::int64_t skew) {
  const boost::json::value* exp = claims.if_contains("exp");
  if (exp == nullptr) return Reject("token has no exp");
  TimeClaims times;
  const std::optional<std::int64_t> exp_s = NumericDate(*exp);
  if (!exp_s) return Reject("bad exp");
  times.exp = *exp_s;
  if (const boost::json::value* nbf = claims.if_contains("nbf")) {
    times.nbf = NumericDate(*nbf);
    if (!times.nbf) return Reject("bad nbf");
  }
  ESCROW_RETURN_IF_ERROR(CheckWindow(times.exp, times.nbf, now, skew));
  return times;
}

Status CheckIssuerAndAudience(const boost::json::object& claims, const JwtPolicy& policy) {
  const boost::json::value* iss = claims.if_contains("iss");
  if (iss == nullptr || !iss->is_string()) return Reject("token has no iss");
  bool known_issuer = false;
  for (const std::string& issuer : policy.issuers) {
    known_issuer = known_issuer || iss->get_string() == issuer;
  }
  if (!known_issuer) return Reject("wrong issuer");

  const boost::json::value* aud = claims.if_contains("aud");
  if (aud == nullptr) return Reject("token has no aud");
  if (aud->is_string()) {
    if (aud->get_string() != policy.audience) return Reject("wrong audience");
  } else if (aud->is_array()) {
    bool found = false;
    for (const boost::json::value& a : aud->get_array()) {
      if (!a.is_string()) return Reject("bad aud");
      found = found || a.get_string() == policy.audience;
    }
    if (!found) return Reject("wrong audience");
  } else {
    return Reject("bad aud");
  }
  return Status::Ok();
}

Result<std::string> OwnerOf(const boost::json::object& claims, const std::string& owner_claim) {
  const boost::json::value* owner = claims.if_contains(owner_claim);
  if (owner == nullptr) return Reject("token has no owner claim");
  if (!owner->is_string()) return Reject("bad owner claim");
  const boost::json::string& s = owner->get_string();
  if (s.empty() || s.size() > JwtVerifier::kMaxOwnerBytes) return Reject("bad owner claim");
  // Control characters have no place in a user name and would forge log lines.
  for (char c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) return Reject("bad owner claim");
  }
  return std::string(s);
}

Result<std::vector<std::string>> RolesOf(const boost::json::object& claims) {
  std::vector<std::string> roles;
  const boost::json::value* value = claims.if_contains("roles");
  if (value == nullptr) return roles;
  // Strict: a lone string or an object may be a misconfigured IdP; guessing could grant.
  if (!value->is_array()) return Reject("bad roles");
  roles.reserve(value->get_array().size());
  for (const boost::json::value& role : value->get_array()) {
    if (!role.is_string()) return Reject("bad roles");
    roles.emplace_back(role.get_string());
  }
  return roles;
}

using Digest = std::array<std::uint8_t, 32>;  // SHA-256

// The digest is already uniformly distributed, so its first 8 bytes are a good hash.
struct DigestHash {
  std::size_t operator()(const Digest& digest) const noexcept {
    std::uint64_t h = 0;
    std::memcpy(&h, digest.data(), sizeof(h));
    return static_cast<std::size_t>(h);
  }
};

// The SHA-256 of the whole token text, or nullopt if OpenSSL fails (the token is then
// verified in full and not cached).
std::optional<Digest> TokenDigest(std::string_view token) {
  Digest digest{};
  unsigned int size = 0;
  if (EVP_Digest(token.data(), token.size(), digest.data(), &size, EVP_sha256(), nullptr) != 1 ||
      size != digest.size()) {
    ERR_clear_error();
    return std::nullopt;
  }
  return digest;
}

// A token that passed every check, and its nbf: with exp, what a cache hit re-checks.
struct CheckedToken {
  VerifiedToken token;
  std::optional<std::int64_t> nbf;
};

// Every check but the size limit, without the cache.
Result<CheckedToken> VerifyToken(std::span<const JwtKey> keys, const JwtPolicy& policy,
                                 std::string_view token, std::int64_t now) {
  const std::size_t dot1 = token.find('.');
  const std::size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return Reject("token is not three segments");
  }
  const std::string_view signing_input = token.substr(0, dot2);
  const std::optional<std::string> header_text = Base64UrlDecodeToString(token.substr(0, dot1));
  const std::optional<Bytes> signature = Base64UrlDecode(token.substr(dot2 + 1));
  if (!header_text || !signature) return Reject("token is not base64url");

  // Both documents together are under 8 KiB of text; their values rarely outgrow this.
  std::array<unsigned char, 8192> arena;
  boost::json::monotonic_resource resource(arena.data(), arena.size());
  const boost::json::storage_ptr storage(&resource);

  boost::json::value header_value(storage);
  const boost::json::object* header = ParseObject(*header_text, header_value);
  if (header == nullptr) return Reject("token header is not a JSON object");
  ESCROW_ASSIGN_OR_RETURN(const JwtKey::Alg alg, CheckHeader(*header));

  const boost::json::value* kid = header->if_contains("kid");
  if (kid != nullptr && !kid->is_string()) return Reject("bad kid");
  bool any_candidate = false;
  bool any_alg_match = false;
  bool verified = false;
  for (const JwtKey& key : keys) {
    // A key configured without a kid (a PEM file) answers any kid; the algorithm pin still
    // applies. A key with a kid answers only its own.
    if (kid != nullptr && !key.kid.empty() && key.kid != kid->get_string()) continue;
    any_candidate = true;
    if (key.alg != alg) continue;  // the pin: a header never widens what a key accepts
    any_alg_match = true;
    if (VerifySignature(key, signing_input, *signature)) {
      verified = true;
      break;
    }
  }
  if (!any_candidate) return Reject("unknown kid");
  if (!any_alg_match) return Reject("algorithm not allowed for key");
  if (!verified) return Reject("bad signature");

  // Only signed bytes from here on.
  const std::optional<std::string> payload_text =
      Base64UrlDecodeToString(token.substr(dot1 + 1, dot2 - dot1 - 1));
  if (!payload_text) return Reject("token is not base64url");
  boost::json::value payload_value(storage);
  const boost::json::object* claims = ParseObject(*payload_text, payload_value);
  if (claims == nullptr) return Reject("token payload is not a JSON object");

  ESCROW_ASSIGN_OR_RETURN(const TimeClaims times, CheckTimes(*claims, now, policy.skew.count()));
  ESCROW_RETURN_IF_ERROR(CheckIssuerAndAudience(*claims, policy));
  CheckedToken out;
  out.token.exp = times.exp;
  out.nbf = times.nbf;
  ESCROW_ASSIGN_OR_RETURN(out.token.user, OwnerOf(*claims, policy.owner_claim));
  ESCROW_ASSIGN_OR_RETURN(out.token.roles, RolesOf(*claims));
  return out;
}

}  // namespace

// Verified tokens by the SHA-256 of their text, at most kMaxCachedTokens of them. Thread-safe:
// each method holds the mutex only for hash-map work, never for a signature check.
class JwtVerifier::TokenCache {
 public:
  std::optional<CheckedToken> Find(const Digest& digest) const {
    std::lock_guard lock(mu_);
    const auto it = entries_.find(digest);
    if (it == entries_.end()) return std::nullopt;
    return it->second.checked;
  }

  // When full, first drops the expired entries, then the oldest inserted.
  void Insert(const Digest& digest, const CheckedToken& checked, std::int64_t now,
              std::int64_t skew) {
    std::lock_guard lock(mu_);
    if (entries_.contains(digest)) return;  // another thread verified it meanwhile
    if (entries_.size() >= kMaxCachedTokens && Expired(earliest_exp_, now, skew)) {
      earliest_exp_ = kMaxNumericDate;
      std::erase_if(entries_, [&](const auto& entry) {
        const std::int64_t exp = entry.second.checked.token.exp;
        if (Expired(exp, now, skew)) {
          order_.erase(entry.second.order);
          return true;
        }
        earliest_exp_ = std::min(earliest_exp_, exp);
        return false;
      });
    }
    if (entries_.size() >= kMaxCachedTokens) {
      entries_.erase(order_.front());
      order_.pop_front();
    }
    order_.push_back(digest);
    entries_.emplace(digest, Entry{checked, std::prev(order_.end())});
    earliest_exp_ = std::min(earliest_exp_, checked.token.exp);
  }

  void Erase(const Digest& digest) {
    std::lock_guard lock(mu_);
    const auto it = entries_.find(digest);
    if (it == entries_.end()) return;
    order_.erase(it->second.order);
    entries_.erase(it);
  }

  std::size_t size() const {
    std::lock_guard lock(mu_);
    return entries_.size();
  }

 private:
  struct Entry {
    CheckedToken checked;
    std::list<Digest>::iterator order;  // its place in order_
  };

  mutable std::mutex mu_;
  std::unordered_map<Digest, Entry, DigestHash> entries_;
  std::list<Digest> order_;  // insertion order, oldest first; one node per entry
  // No entry has an earlier exp (it may be earlier than the true minimum after an erase).
  // Lets a cache full of live tokens skip the scan for expired ones.
  std::int64_t earliest_exp_ = kMaxNumericDate;
};

JwtVerifier::JwtVerifier(std::vector<JwtKey> keys, JwtPolicy policy)
    : keys_(std::move(keys)), policy_(std::move(policy)), cache_(std::make_shared<TokenCache>()) {}

Result<JwtVerifier> JwtVerifier::Create(std::vector<JwtKey> keys, JwtPolicy policy) {
  if (keys.empty()) return Status::InvalidArgument("no token keys configured");
  std::set<std::string_view> kids;
  for (const JwtKey& key : keys) {
    Result<JwtKey> pinned = MakeJwtKey(key.kid, key.pkey);  // re-derive the pin
    if (!pinned.ok()) return pinned.status().WithContext("token key \"" + key.kid + "\"");
    if (pinned->alg != key.alg) {
      return Status::InvalidArgument("token key \"" + key.kid + "\" has alg " +
                                     std::string(AlgName(key.alg)) + " but its type pins " +
                                     std::string(AlgName(pinned->alg)));
    }
    if (!key.kid.empty() && !kids.insert(key.kid).second) {
      return Status::InvalidArgument("token keys repeat kid \"" + key.kid + "\"");
    }
  }
  if (policy.audience.empty()) return Status::InvalidArgument("token audience is empty");
  if (policy.owner_claim.empty()) return Status::InvalidArgument("owner claim name is empty");
  if (policy.skew < std::chrono::seconds(0) || policy.skew > kMaxSkew) {
    return Status::InvalidArgument("token skew must be 0 to 3600 seconds");
  }
  return JwtVerifier(std::move(keys), std::move(policy));
}

Result<VerifiedToken> JwtVerifier::Verify(std::string_view token, TimePoint now) const {
  if (token.size() > kMaxTokenBytes) return Reject("token too large");
  const std::int64_t now_s = ToUnixSeconds(now);
  const std::int64_t skew = policy_.skew.count();
  // The whole text is hashed, signature included, so a token differing in any byte misses.
  const std::optional<Digest> digest = cache_ ? TokenDigest(token) : std::nullopt;
  if (digest) {
    if (std::optional<CheckedToken> hit = cache_->Find(*digest)) {
      // Only the time checks depend on `now`; the rest was settled when it was cached.
      Status in_window = CheckWindow(hit->token.exp, hit->nbf, now_s, skew);
      if (in_window.ok()) return std::move(hit->token);
      if (Expired(hit->token.exp, now_s, skew)) cache_->Erase(*digest);  // for good
      return in_window;
    }
  }
  ESCROW_ASSIGN_OR_RETURN(CheckedToken checked, VerifyToken(keys_, policy_, token, now_s));
  if (digest) cache_->Insert(*digest, checked, now_s, skew);
  return std::move(checked.token);
}

std::size_t JwtVerifier::cached_tokens() const { return cache_ ? cache_->size() : 0; }

}  // namespace escrow::auth
