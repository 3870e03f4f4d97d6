#include "auth/jwks.h"

#include <algorithm>
#include <fstream>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "auth/base64url.h"
#include "base/ssl_ptr.h"

namespace escrow::auth {
namespace {


constexpr int kMinRsaBits = 2048;
// Larger moduli only slow every verification down; no identity provider needs them.
constexpr int kMaxRsaBits = 8192;
constexpr std::size_t kMaxKeyFileBytes = 1 << 20;

std::shared_ptr<evp_pkey_st> Share(SslPtr<EVP_PKEY> pkey) {
  return {pkey.release(), SslDeleter<EVP_PKEY>{}};
}

// Clears OpenSSL's thread-local error queue on scope exit, so a rejected key leaves no
// stale error behind for the next OpenSSL caller on this thread (SSL_get_error reads it).
struct ErrorQueueClearer {
  ErrorQueueClearer() = default;
  ErrorQueueClearer(const ErrorQueueClearer&) = delete;  // one scope, one clear
  ErrorQueueClearer& operator=(const ErrorQueueClearer&) = delete;
  ErrorQueueClearer(ErrorQueueClearer&&) = delete;
  ErrorQueueClearer& operator=(ErrorQueueClearer&&) = delete;
  ~ErrorQueueClearer() { ERR_clear_error(); }
};

Status Invalid(std::string message) { return Status::InvalidArgument(std::move(message)); }

// Pins the algorithm to the key type; see JwtKey.
Result<JwtKey::Alg> PinAlg(EVP_PKEY* pkey) {
  if (EVP_PKEY_is_a(pkey, "EC")) {
    char group[64] = {};
    std::size_t group_len = 0;
    if (EVP_PKEY_get_group_name(pkey, group, sizeof(group), &group_len) != 1 ||
        std::string_view(group, group_len) != "prime256v1") {
      return Invalid("EC key is not on curve P-256");
    }
  } else if (EVP_PKEY_is_a(pkey, "RSA")) {  // not "RSA-PSS": its parameters restrict use
    const int bits = EVP_PKEY_get_bits(pkey);
    if (bits < kMinRsaBits || bits > kMaxRsaBits) {
      return Invalid("RSA key must have 2048 to 8192 bits");
    }
  } else {
    return Invalid("key type is neither EC P-256 nor RSA");
  }
  // Point on the curve and of the right order; RSA modulus odd, exponent odd and >= 65537.
  SslPtr<EVP_PKEY_CTX> ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr));
  if (ctx == nullptr) return Status::Internal("EVP_PKEY_CTX_new_from_pkey failed");
  if (EVP_PKEY_public_check(ctx.get()) != 1) return Invalid("public key check failed");
  return EVP_PKEY_is_a(pkey, "EC") ? JwtKey::Alg::kES256 : JwtKey::Alg::kRS256;
}

Result<std::string> ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("cannot open key file " + path.string());
  std::string text;
  char buf[4096];
  while (in.read(buf, sizeof(buf)) || in.gcount() > 0) {
    text.append(buf, static_cast<std::size_t>(in.gcount()));
    if (text.size() > kMaxKeyFileBytes) return Invalid("key file too large: " + path.string());
  }
  if (in.bad()) return Status::NotFound("cannot read key file " + path.string());
  return text;
}

// --- JWKS -----------------------------------------------------------------------------------

const boost::json::string* GetString(const boost::json::object& obj, std::string_view name) {
  const boost::json::value* v = obj.if_contains(name);
  return v == nullptr ? nullptr : v->if_string();
}

Result<std::string> RequiredMember(const boost::json::object& jwk, std::string_view name,
                                   std::string_view kty) {
  const boost::json::string* s = GetString(jwk, name);
  if (s == nullptr) {
    return Invalid(std::string(kty) + " JWK needs string member \"" + std::string(name) + "\"");
  }
  auto bytes = Base64UrlDecodeToString(*s);
  if (!bytes) return Invalid("JWK member \"" + std::string(name) + "\" is not base64url");
  return std::move(*bytes);
}

Result<SslPtr<EVP_PKEY>> FromParams(const char* type, OSSL_PARAM_BLD* bld) {
  SslPtr<OSSL_PARAM> params(OSSL_PARAM_BLD_to_param(bld));
  SslPtr<EVP_PKEY_CTX> ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  if (params == nullptr || ctx == nullptr || EVP_PKEY_fromdata_init(ctx.get()) != 1) {
    return Status::Internal("EVP_PKEY_fromdata_init failed");
  }
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    return Invalid(std::string("JWK is not a valid ") + type + " public key");
  }
  return SslPtr<EVP_PKEY>(raw);
}

Result<SslPtr<EVP_PKEY>> EcKeyFromJwk(const boost::json::object& jwk) {
  const boost::json::string* crv = GetString(jwk, "crv");
  if (crv == nullptr || *crv != "P-256") return Invalid("EC JWK curve is not P-256");
  ESCROW_ASSIGN_OR_RETURN(std::string x, RequiredMember(jwk, "x", "EC"));
  ESCROW_ASSIGN_OR_RETURN(std::string y, RequiredMember(jwk, "y", "EC"));
  // RFC 7518 6.2.1.2: coordinates are full length, 32 bytes for P-256.
  if (x.size() != 32 || y.size() != 32) return Invalid("EC JWK coordinates must be 32 bytes");
  std::string point = "\x04" + x + y;  // uncompressed SEC1 point
  SslPtr<OSSL_PARAM_BLD> bld(OSSL_PARAM_BLD_new());
  if (bld == nullptr ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) !=
          1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                       point.size()) != 1) {
    return Status::Internal("OSSL_PARAM_BLD failed");
  }
  return FromParams("EC", bld.get());
}

Result<SslPtr<EVP_PKEY>> RsaKeyFromJwk(const boost::json::object& jwk) {
  ESCROW_ASSIGN_OR_RETURN(std::string n_bytes, RequiredMember(jwk, "n", "RSA"));
  ESCROW_ASSIGN_OR_RETURN(std::string e_bytes, RequiredMember(jwk, "e", "RSA"));
  if (n_bytes.empty() || e_bytes.empty() || e_bytes.size() > 32) {
    return Invalid("RSA JWK has an empty modulus or a bad exponent");
  }
  auto to_bn = [](const std::string& b) {
    return SslPtr<BIGNUM>(BN_bin2bn(reinterpret_cast<const unsigned char*>(b.data()),
                                    static_cast<int>(b.size()), nullptr));
  };
  SslPtr<BIGNUM> n = to_bn(n_bytes);
  SslPtr<BIGNUM> e = to_bn(e_bytes);
  SslPtr<OSSL_PARAM_BLD> bld(OSSL_PARAM_BLD_new());
  if (n == nullptr || e == nullptr || bld == nullptr ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, e.get()) != 1) {
    return Status::Internal("OSSL_PARAM_BLD failed");
  }
  return FromParams("RSA", bld.get());
}

// One JWK. An empty optional means "skip" (not a signature key).
Result<std::optional<JwtKey>> KeyFromJwk(const boost::json::value& value) {
  const boost::json::object* jwk = value.if_object();
  if (jwk == nullptr) return Invalid("JWKS entry is not an object");
  // Refuse rather than skip: a private key in a config file is a leak to fix, not to ignore.
  for (const char* secret : {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}) {
    if (jwk->contains(secret)) return Invalid("JWKS holds private key material");
  }
  if (const boost::json::value* use = jwk->if_contains("use")) {
    if (!use->is_string()) return Invalid("JWK \"use\" is not a string");
    if (use->get_string() != "sig") return std::optional<JwtKey>();
  }
  std::string kid;
  if (const boost::json::value* k = jwk->if_contains("kid")) {
    if (!k->is_string()) return Invalid("JWK \"kid\" is not a string");
    kid = std::string(k->get_string());
  }
  const boost::json::string* kty = GetString(*jwk, "kty");
  if (kty == nullptr) return Invalid("JWK without string \"kty\"");
  SslPtr<EVP_PKEY> pkey;
  if (*kty == "EC") {
    ESCROW_ASSIGN_OR_RETURN(pkey, EcKeyFromJwk(*jwk));
  } else if (*kty == "RSA") {
    ESCROW_ASSIGN_OR_RETURN(pkey, RsaKeyFromJwk(*jwk));
  } else {
    return Invalid("JWK has unsupported kty \"" + std::string(*kty) + "\"");
  }
  ESCROW_ASSIGN_OR_RETURN(JwtKey key, MakeJwtKey(std::move(kid), Share(std::move(pkey))));
  if (const boost::json::value* alg = jwk->if_contains("alg")) {
    if (!alg->is_string() || alg->get_string() != AlgName(key.alg)) {
      return Invalid("JWK \"alg\" contradicts its key type (expected " +
                     std::string(AlgName(key.alg)) + ")");
    }
  }
  return std::optional<JwtKey>(std::move(key));
}

// --- Strict JSON ----------------------------------------------------------------------------

// A boost::json::basic_parser handler that builds nothing and fails on a repeated key.
// `keys_` holds the keys of every open object, each object's run starting at `starts_`.
class DuplicateKeyHandler {
 public:
  static constexpr std::size_t max_array_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_object_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_string_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_key_size = static_cast<std::size_t>(-1);

  bool on_document_begin(boost::json::error_code&) { return true; }
  bool on_document_end(boost::json::error_code&) { return true; }
  bool on_array_begin(boost::json::error_code&) { return true; }
  bool on_array_end(std::size_t, boost::json::error_code&) { return true; }
  bool on_object_begin(boost::json::error_code&) {
    starts_.push_back(keys_.size());
    return true;
  }
  bool on_object_end(std::size_t, boost::json::error_code& ec) {
    const auto first = keys_.begin() + static_cast<std::ptrdiff_t>(starts_.back());
    starts_.pop_back();
    std::sort(first, keys_.end());
    const bool dup = std::adjacent_find(first, keys_.end()) != keys_.end();
    keys_.erase(first, keys_.end());
    if (dup) ec = boost::json::make_error_code(boost::json::error::syntax);
    return !dup;
  }
  bool on_string_part(boost::json::string_view, std::size_t, boost::json::error_code&) {
    return true;
  }
  bool on_string(boost::json::string_view, std::size_t, boost::json::error_code&) { return true; }
  bool on_key_part(boost::json::string_view s, std::size_t, boost::json::error_code&) {
    key_.append(s.data(), s.size());
    return true;
  }
  bool on_key(boost::json::string_view s, std::size_t, boost::json::error_code&) {
    key_.append(s.data(), s.size());
    keys_.push_back(std::move(key_));
    key_.clear();
    return true;
  }
  bool on_number_part(boost::json::string_view, boost::json::error_code&) { return true; }
  bool on_int64(std::int64_t, boost::json::string_view, boost::json::error_code&) { return true; }
  bool on_uint64(std::uint64_t, boost::json::string_view, boost::json::error_code&) { return true; }
  bool on_double(double, boost::json::string_view, boost::json::error_code&) { return true; }
  bool on_bool(bool, boost::json::error_code&) { return true; }
  bool on_null(boost::json::error_code&) { return true; }
  bool on_comment_part(boost::json::string_view, boost::json::error_code&) { return false; }
  bool on_comment(boost::json::string_view, boost::json::error_code&) { return false; }

 private:
  std::string key_;
  std::vector<std::string> keys_;
  std::vector<std::size_t> starts_;
};

}  // namespace

std::string_view AlgName(JwtKey::Alg alg) { return alg == JwtKey::Alg::kES256 ? "ES256" : "RS256"; }

Result<JwtKey> MakeJwtKey(std::string kid, std::shared_ptr<evp_pkey_st> pkey) {
  const ErrorQueueClearer clear_errors;
  if (pkey == nullptr) return Invalid("no key");
  ESCROW_ASSIGN_OR_RETURN(JwtKey::Alg alg, PinAlg(pkey.get()));
  return JwtKey{std::move(kid), alg, std::move(pkey)};
}

Result<JwtKey> JwtKeyFromPem(std::string_view pem, std::string kid) {
  const ErrorQueueClearer clear_errors;
  SslPtr<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (bio == nullptr || pem.size() > kMaxKeyFileBytes) return Invalid("PEM text too large");
  char* name = nullptr;
  char* header = nullptr;
  unsigned char* der = nullptr;
  long der_len = 0;  // NOLINT(google-runtime-int): OpenSSL's type
  if (PEM_read_bio(bio.get(), &name, &header, &der, &der_len) != 1) {
    return Invalid("no PEM block found");
  }
  const SslBuffer<char> name_owner(name);
  const SslBuffer<char> header_owner(header);
  const SslBuffer<unsigned char> der_owner(der);
  const std::string block_name = name;
  // Exactly one block: a second one (a chain, a private key) is more than we asked for.
  char* n2 = nullptr;
  char* h2 = nullptr;
  unsigned char* d2 = nullptr;
  long l2 = 0;  // NOLINT(google-runtime-int)
  const bool another = PEM_read_bio(bio.get(), &n2, &h2, &d2, &l2) == 1;
  const SslBuffer<char> n2_owner(n2);
  const SslBuffer<char> h2_owner(h2);
  const SslBuffer<unsigned char> d2_owner(d2);
  if (another) return Invalid("PEM text holds more than one block");

  const unsigned char* p = der;
  SslPtr<EVP_PKEY> pkey;
  if (block_name == "PUBLIC KEY") {
    pkey.reset(d2i_PUBKEY(nullptr, &p, der_len));
  } else if (block_name == "CERTIFICATE") {
    SslPtr<X509> cert(d2i_X509(nullptr, &p, der_len));
    if (cert != nullptr) pkey.reset(X509_get_pubkey(cert.get()));
  } else {
    return Invalid("PEM block \"" + block_name + "\" is not a PUBLIC KEY or CERTIFICATE");
  }
  if (pkey == nullptr || p != der + der_len) return Invalid("PEM block does not parse");
  return MakeJwtKey(std::move(kid), Share(std::move(pkey)));
}

Result<std::vector<JwtKey>> JwtKeysFromJwks(std::string_view json) {
  const ErrorQueueClearer clear_errors;
  if (!IsStrictJson(json)) return Invalid("JWKS is not JSON or repeats a key");
  boost::json::error_code ec;
  const boost::json::value doc = boost::json::parse(json, ec);
  if (ec) return Invalid("JWKS is not JSON");
  const boost::json::object* root = doc.if_object();
  const boost::json::value* keys = root == nullptr ? nullptr : root->if_contains("keys");
  if (keys == nullptr || !keys->is_array()) return Invalid("JWKS has no \"keys\" array");
  std::vector<JwtKey> out;
  std::set<std::string, std::less<>> kids;
  for (const boost::json::value& entry : keys->get_array()) {
    ESCROW_ASSIGN_OR_RETURN(std::optional<JwtKey> key, KeyFromJwk(entry));
    if (!key) continue;
    if (!key->kid.empty() && !kids.insert(key->kid).second) {
      return Invalid("JWKS repeats kid \"" + key->kid + "\"");
    }
    out.push_back(std::move(*key));
  }
  return out;
}

Result<JwtKey> LoadJwtKeyPemFile(const std::filesystem::path& path, std::string kid) {
  ESCROW_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  Result<JwtKey> key = JwtKeyFromPem(text, std::move(kid));
  if (!key.ok()) return key.status().WithContext(path.string());
  return key;
}

Result<std::vector<JwtKey>> LoadJwksFile(const std::filesystem::path& path) {
  ESCROW_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  Result<std::vector<JwtKey>> keys = JwtKeysFromJwks(text);
  if (!keys.ok()) return keys.status().WithContext(path.string());
  return keys;
}

bool IsStrictJson(std::string_view text, std::size_t max_depth) {
  boost::json::parse_options opt;
  opt.max_depth = max_depth;
  boost::json::basic_parser<DuplicateKeyHandler> parser(opt);
  boost::json::error_code ec;
  const std::size_t n = parser.write_some(false, text.data(), text.size(), ec);
  return !ec && n == text.size() && parser.done();
}

}  // namespace escrow::auth
