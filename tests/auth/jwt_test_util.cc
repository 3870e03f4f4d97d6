#include "tests/auth/jwt_test_util.h"

#include <stdexcept>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "auth/base64url.h"

namespace escrow::auth::testing {
namespace {

void Check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("OpenSSL failed: ") + what);
}

std::shared_ptr<evp_pkey_st> Share(EVP_PKEY* p) {
  Check(p != nullptr, "key generation");
  return {p, [](EVP_PKEY* k) { EVP_PKEY_free(k); }};
}

using BioPtr = std::unique_ptr<BIO, decltype(&BIO_free)>;
using BnPtr = std::unique_ptr<BIGNUM, decltype(&BN_free)>;

std::string BioText(BIO* bio) {
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);  // NOLINT(google-runtime-int)
  return std::string(data, static_cast<std::size_t>(len));
}

std::string BnParam(EVP_PKEY* pkey, const char* name, int pad) {
  BIGNUM* raw = nullptr;
  Check(EVP_PKEY_get_bn_param(pkey, name, &raw) == 1, name);
  BnPtr bn(raw, &BN_free);
  const int len = pad > 0 ? pad : BN_num_bytes(bn.get());
  std::string out(static_cast<std::size_t>(len), '\0');
  Check(BN_bn2binpad(bn.get(), reinterpret_cast<unsigned char*>(out.data()), len) == len,
        "BN_bn2binpad");
  return out;
}

std::string DigestSign(EVP_PKEY* pkey, std::string_view input) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  Check(ctx != nullptr && EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, pkey) == 1,
        "EVP_DigestSignInit");
  const auto* in = reinterpret_cast<const unsigned char*>(input.data());
  std::size_t len = 0;
  Check(EVP_DigestSign(ctx.get(), nullptr, &len, in, input.size()) == 1, "EVP_DigestSign");
  std::string sig(len, '\0');
  Check(EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, in,
                       input.size()) == 1,
        "EVP_DigestSign");
  sig.resize(len);
  return sig;
}

bool IsEc(EVP_PKEY* pkey) { return EVP_PKEY_is_a(pkey, "EC") == 1; }

}  // namespace

TestKey TestKey::Ec(const char* curve) { return TestKey(Share(EVP_EC_gen(curve))); }
TestKey TestKey::Rsa(unsigned bits) { return TestKey(Share(EVP_RSA_gen(bits))); }
TestKey TestKey::Ed25519() {
  return TestKey(Share(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519")));
}

const TestKey& TestKey::SharedEc() {
  static const TestKey key = Ec();
  return key;
}
const TestKey& TestKey::SharedEc2() {
  static const TestKey key = Ec();
  return key;
}
const TestKey& TestKey::SharedRsa() {
  static const TestKey key = Rsa();
  return key;
}

std::string TestKey::PublicPem() const {
  BioPtr bio(BIO_new(BIO_s_mem()), &BIO_free);
  Check(bio != nullptr && PEM_write_bio_PUBKEY(bio.get(), pkey_.get()) == 1, "PEM_write_PUBKEY");
  return BioText(bio.get());
}

std::string TestKey::PrivatePem() const {
  BioPtr bio(BIO_new(BIO_s_mem()), &BIO_free);
  Check(bio != nullptr && PEM_write_bio_PrivateKey(bio.get(), pkey_.get(), nullptr, nullptr, 0,
                                                   nullptr, nullptr) == 1,
        "PEM_write_PrivateKey");
  return BioText(bio.get());
}

std::string TestKey::CertificatePem() const {
  std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), &X509_free);
  Check(cert != nullptr, "X509_new");
  X509_NAME* name = X509_get_subject_name(cert.get());
  Check(X509_set_version(cert.get(), 2) == 1 &&
            ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1) == 1 &&
            X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0) != nullptr &&
            X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600) != nullptr &&
            X509_set_pubkey(cert.get(), pkey_.get()) == 1 &&
            X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                       reinterpret_cast<const unsigned char*>("test-idp"), -1, -1,
                                       0) == 1 &&
            X509_set_issuer_name(cert.get(), name) == 1 &&
            X509_sign(cert.get(), pkey_.get(), EVP_sha256()) > 0,
        "self-signed certificate");
  BioPtr bio(BIO_new(BIO_s_mem()), &BIO_free);
  Check(bio != nullptr && PEM_write_bio_X509(bio.get(), cert.get()) == 1, "PEM_write_X509");
  return BioText(bio.get());
}

std::string TestKey::Jwk(std::string_view kid, std::string_view extra_members) const {
  std::string out;
  if (IsEc(pkey_.get())) {
    // Always labelled P-256, so tests can offer other curves' points under that name.
    const int field_bytes = (EVP_PKEY_get_bits(pkey_.get()) + 7) / 8;
    out = R"({"kty":"EC","crv":"P-256","x":")" +
          B64(BnParam(pkey_.get(), OSSL_PKEY_PARAM_EC_PUB_X, field_bytes)) + R"(","y":")" +
          B64(BnParam(pkey_.get(), OSSL_PKEY_PARAM_EC_PUB_Y, field_bytes)) + "\"";
  } else {
    out = R"({"kty":"RSA","n":")" + B64(BnParam(pkey_.get(), OSSL_PKEY_PARAM_RSA_N, 0)) +
          R"(","e":")" + B64(BnParam(pkey_.get(), OSSL_PKEY_PARAM_RSA_E, 0)) + "\"";
  }
  out += R"(,"kid":")" + std::string(kid) + "\"";
  out += extra_members;
  out += "}";
  return out;
}

std::string TestKey::PrivateJwk(std::string_view kid) const {
  const std::string d = IsEc(pkey_.get()) ? BnParam(pkey_.get(), OSSL_PKEY_PARAM_PRIV_KEY, 32)
                                          : BnParam(pkey_.get(), OSSL_PKEY_PARAM_RSA_D, 0);
  return Jwk(kid, R"(,"d":")" + B64(d) + "\"");
}

JwtKey TestKey::ToJwtKey(std::string kid) const {
  Result<JwtKey> key = JwtKeyFromPem(PublicPem(), std::move(kid));
  if (!key.ok()) throw std::runtime_error(key.status().ToString());
  return std::move(key).value();
}

std::string TestKey::SignEs256(std::string_view input) const {
  const std::string der = DigestSign(pkey_.get(), input);
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  std::unique_ptr<ECDSA_SIG, decltype(&ECDSA_SIG_free)> sig(
      d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())),  // NOLINT(google-runtime-int)
      &ECDSA_SIG_free);
  Check(sig != nullptr, "d2i_ECDSA_SIG");
  std::string out(64, '\0');
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  Check(BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), o, 32) == 32 &&
            BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), o + 32, 32) == 32,
        "BN_bn2binpad");
  return out;
}

std::string TestKey::SignRs256(std::string_view input) const {
  return DigestSign(pkey_.get(), input);
}

std::string B64(std::string_view bytes) { return Base64UrlEncode(bytes); }

std::string SigningInput(std::string_view header_json, std::string_view payload_json) {
  return B64(header_json) + "." + B64(payload_json);
}

std::string MintEs256(const TestKey& key, std::string_view header_json,
                      std::string_view payload_json) {
  const std::string input = SigningInput(header_json, payload_json);
  return input + "." + B64(key.SignEs256(input));
}

std::string MintRs256(const TestKey& key, std::string_view header_json,
                      std::string_view payload_json) {
  const std::string input = SigningInput(header_json, payload_json);
  return input + "." + B64(key.SignRs256(input));
}

std::string MintHs256(std::string_view secret, std::string_view header_json,
                      std::string_view payload_json) {
  const std::string input = SigningInput(header_json, payload_json);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  Check(HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
             reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac,
             &mac_len) != nullptr,
        "HMAC");
  return input + "." + B64(std::string_view(reinterpret_cast<const char*>(mac), mac_len));
}

std::string MintRaw(std::string_view header_json, std::string_view payload_json,
                    std::string_view signature_b64) {
  return SigningInput(header_json, payload_json) + "." + std::string(signature_b64);
}

}  // namespace escrow::auth::testing
