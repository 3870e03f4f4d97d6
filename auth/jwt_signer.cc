#include "auth/jwt_signer.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <array>

#include <boost/json.hpp>

#include "auth/base64url.h"
#include "base/bytes.h"
#include "base/ssl_ptr.h"

namespace escrow::auth {
namespace {

constexpr int kP256CoordinateBytes = 32;

Status OpenSslError(std::string_view call) {
  std::array<char, 256> buf{};
  const unsigned long err = ERR_get_error();  // NOLINT(google-runtime-int): OpenSSL's type
  if (err != 0) ERR_error_string_n(err, buf.data(), buf.size());
  ERR_clear_error();
  return Status::Internal(std::string(call) + ": " +
                          (err != 0 ? std::string(buf.data()) : std::string("failed")));
}

bool IsP256(EVP_PKEY* key) {
  std::array<char, 64> group{};
  std::size_t group_len = 0;
  const bool ok = EVP_PKEY_is_a(key, "EC") &&
                  EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group.data(),
                                                 group.size(), &group_len) == 1 &&
                  std::string_view(group.data(), group_len) == "prime256v1";
  ERR_clear_error();
  return ok;
}

// ECDSA-SHA256 over `input`, converted from DER to JOSE's fixed-width r||s (RFC 7518 3.4).
Result<Bytes> SignEs256(EVP_PKEY* key, std::string_view input) {
  SslPtr<EVP_MD_CTX> ctx(EVP_MD_CTX_new());
  if (!ctx) return OpenSslError("EVP_MD_CTX_new");
  if (EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) != 1) {
    return OpenSslError("EVP_DigestSignInit");
  }
  const std::span<const std::uint8_t> data = AsBytes(input);
  std::size_t der_len = 0;
  if (EVP_DigestSign(ctx.get(), nullptr, &der_len, data.data(), data.size()) != 1) {
    return OpenSslError("EVP_DigestSign");
  }
  Bytes der(der_len);
  if (EVP_DigestSign(ctx.get(), der.data(), &der_len, data.data(), data.size()) != 1) {
    return OpenSslError("EVP_DigestSign");
  }
  const unsigned char* p = der.data();
  SslPtr<ECDSA_SIG> sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der_len)));
  if (!sig) return OpenSslError("d2i_ECDSA_SIG");
  Bytes raw(std::size_t{2} * kP256CoordinateBytes);
  if (BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), raw.data(), kP256CoordinateBytes) !=
          kP256CoordinateBytes ||
      BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), raw.data() + kP256CoordinateBytes,
                   kP256CoordinateBytes) != kP256CoordinateBytes) {
    return OpenSslError("BN_bn2binpad");
  }
  return raw;
}

Result<std::string> Coordinate(EVP_PKEY* key, const char* name) {
  BIGNUM* raw = nullptr;
  if (EVP_PKEY_get_bn_param(key, name, &raw) != 1) return OpenSslError("EVP_PKEY_get_bn_param");
  SslPtr<BIGNUM> bn(raw);
  Bytes out(kP256CoordinateBytes);
  if (BN_bn2binpad(bn.get(), out.data(), kP256CoordinateBytes) != kP256CoordinateBytes) {
    return OpenSslError("BN_bn2binpad");
  }
  return Base64UrlEncode(out);
}

}  // namespace

Result<JwtSigner> JwtSigner::FromPemFile(const std::filesystem::path& path, std::string kid) {
  SslPtr<BIO> bio(BIO_new_file(path.c_str(), "r"));
  if (!bio) {
    ERR_clear_error();
    return Status::NotFound("cannot read the signing key " + path.string());
  }
  SslPtr<EVP_PKEY> key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  ERR_clear_error();
  if (!key) return Status::InvalidArgument(path.string() + " is not a PEM private key");
  if (!IsP256(key.get())) return Status::InvalidArgument(path.string() + " is not an EC P-256 key");
  return JwtSigner(std::shared_ptr<evp_pkey_st>(key.release(), EVP_PKEY_free), std::move(kid));
}

Result<std::string> JwtSigner::Sign(std::string_view payload_json) const {
  boost::json::object header;
  header["alg"] = "ES256";
  header["typ"] = "JWT";
  if (!kid_.empty()) header["kid"] = kid_;
  std::string input = Base64UrlEncode(boost::json::serialize(header)) + "." +
                      Base64UrlEncode(payload_json);
  ESCROW_ASSIGN_OR_RETURN(Bytes signature, SignEs256(key_.get(), input));
  return input + "." + Base64UrlEncode(signature);
}

Result<std::string> JwtSigner::PublicJwks() const {
  ESCROW_ASSIGN_OR_RETURN(std::string x, Coordinate(key_.get(), OSSL_PKEY_PARAM_EC_PUB_X));
  ESCROW_ASSIGN_OR_RETURN(std::string y, Coordinate(key_.get(), OSSL_PKEY_PARAM_EC_PUB_Y));
  boost::json::object jwk{{"kty", "EC"}, {"crv", "P-256"}, {"x", x},
                          {"y", y},      {"use", "sig"},   {"alg", "ES256"}};
  if (!kid_.empty()) jwk["kid"] = kid_;
  boost::json::object doc;
  doc["keys"] = boost::json::array{jwk};
  return boost::json::serialize(doc);
}

}  // namespace escrow::auth
