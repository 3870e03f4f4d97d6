#include "api/jwt_verifier.h"

#include <array>
#include <cmath>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <utility>

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "api/base64url.h"

namespace escrow::api {
namespace {

struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* p) const noexcept { EVP_MD_CTX_free(p); }
};
struct EcdsaSigDeleter {
  void operator()(ECDSA_SIG* p) const noexcept { ECDSA_SIG_free(p); }
};
struct BnDeleter {
  void operator()(BIGNUM* p) const noexcept { BN_free(p); }
};

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
    std::unique_ptr<ECDSA_SIG, EcdsaSigDeleter> ecdsa(ECDSA_SIG_new());
    std::unique_ptr<BIGNUM, BnDeleter> r(BN_bin2bn(signature.data(), 32, nullptr));
    std::unique_ptr<BIGNUM, BnDeleter> s(BN_bin2bn(signature.data() + 32, 32, nullptr));
    if (ecdsa == nullptr || r == nullptr || s == nullptr ||
        ECDSA_SIG_set0(ecdsa.get(), r.get(), s.get()) != 1) {
      ERR_clear_error();
      return false;
    }
    r.release();  // now owned by `ecdsa`
    s.release();
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

  std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx(EVP_MD_CTX_new());
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

// Returns "exp" if the token is within its validity window, give or take `skew`.
Result<std::int64_t> CheckTimes(const boost::json::object& claims, std::int64_t now,
                                std::int64_t skew) {
  const boost::json::value* exp = claims.if_contains("exp");
  if (exp == nullptr) return Reject("token has no exp");
  const std::optional<std::int64_t> exp_s = NumericDate(*exp);
  if (!exp_s) return Reject("bad exp");
  if (now > *exp_s + skew) return Reject("token expired");
  if (const boost::json::value* nbf = claims.if_contains("nbf")) {
    const std::optional<std::int64_t> nbf_s = NumericDate(*nbf);
    if (!nbf_s) return Reject("bad nbf");
    if (now + skew < *nbf_s) return Reject("token not yet valid");
  }
  return *exp_s;
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

}  // namespace

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
  for (const JwtKey& key : keys_) {
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

  VerifiedToken out;
  ESCROW_ASSIGN_OR_RETURN(out.exp, CheckTimes(*claims, ToUnixSeconds(now), policy_.skew.count()));
  ESCROW_RETURN_IF_ERROR(CheckIssuerAndAudience(*claims, policy_));
  ESCROW_ASSIGN_OR_RETURN(out.user, OwnerOf(*claims, policy_.owner_claim));
  ESCROW_ASSIGN_OR_RETURN(out.roles, RolesOf(*claims));
  return out;
}

}  // namespace escrow::api
