// Escrow certificates (vault/escrow_cert.h) built by OpenSSL and signed in a real SoftHSMv2
// token: OpenSSL verifies them, and `openssl cms -encrypt` to them makes envelopes that the
// token opens (KeyService::OpenEnvelope), by issuer and serial and by key identifier.
#include "vault/escrow_cert.h"

#include <ctime>
#include <fstream>
#include <memory>
#include <string>

#include <catch2/catch.hpp>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "base/ssl_ptr.h"
#include "hsm/key_service.h"
#include "tests/support/softhsm_token.h"
#include "tests/support/temp_dir.h"

namespace escrow::vault {
namespace {

using testing::RunCommand;
using testing::SoftHsmToken;
using testing::TempDir;

std::unique_ptr<hsm::KeyService> OpenKeys(const SoftHsmToken& token) {
  Result<std::unique_ptr<hsm::KeyService>> keys = hsm::KeyService::Open(token.config());
  INFO(keys.status().ToString());
  REQUIRE(keys.ok());
  return std::move(keys).value();
}

SslPtr<X509> Parse(const Bytes& der) {
  const unsigned char* p = der.data();
  SslPtr<X509> cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  REQUIRE(cert);
  return cert;
}

CertificateFields Fields(std::string cn, std::uint32_t days) {
  CertificateFields f;
  f.subject_cn = std::move(cn);
  Result<Bytes> serial = NewSerial();
  REQUIRE(serial.ok());
  f.serial = *serial;
  f.not_before = static_cast<std::int64_t>(std::time(nullptr));
  f.days = days;
  return f;
}

std::string Hex(const ASN1_OCTET_STRING* s) {
  REQUIRE(s != nullptr);
  return HexEncode(std::span<const std::uint8_t>(ASN1_STRING_get0_data(s),
                                                 static_cast<std::size_t>(ASN1_STRING_length(s))));
}

void WriteFile(const std::filesystem::path& path, std::string_view content) {
  std::ofstream out(path, std::ios::binary);
  out << content;
  REQUIRE(out.good());
}

// One DER TLV: its tag, its content, and what follows it.
struct Tlv {
  std::uint8_t tag = 0;
  std::span<const std::uint8_t> content;
  std::span<const std::uint8_t> rest;
};

Tlv ReadTlv(std::span<const std::uint8_t> in) {
  REQUIRE(in.size() >= 2);
  Tlv t;
  t.tag = in[0];
  std::size_t len = in[1];
  std::size_t at = 2;
  if (len & 0x80) {
    const std::size_t n = len & 0x7f;
    REQUIRE((n >= 1 && n <= 4 && in.size() >= 2 + n));
    len = 0;
    for (std::size_t i = 0; i < n; ++i) len = (len << 8) | in[2 + i];
    at += n;
  }
  REQUIRE(in.size() >= at + len);
  t.content = in.subspan(at, len);
  t.rest = in.subspan(at + len);
  return t;
}

// The pieces of the first recipient of a DER EnvelopedData, read by hand (the product's parser
// is vault/cms_envelope; this test must not depend on it).
struct CmsPieces {
  Bytes encrypted_key;
  Bytes iv;
  Bytes ciphertext;
};

CmsPieces ReadEnvelope(const std::string& der_text) {
  const std::span<const std::uint8_t> der(
      reinterpret_cast<const std::uint8_t*>(der_text.data()), der_text.size());  // NOLINT
  const Tlv content_info = ReadTlv(der);
  REQUIRE(content_info.tag == 0x30);
  const Tlv oid = ReadTlv(content_info.content);
  const Tlv explicit0 = ReadTlv(oid.rest);
  REQUIRE(explicit0.tag == 0xa0);
  const Tlv enveloped = ReadTlv(explicit0.content);
  const Tlv version = ReadTlv(enveloped.content);
  REQUIRE(version.tag == 0x02);
  Tlv recipients = ReadTlv(version.rest);
  if (recipients.tag == 0xa0) recipients = ReadTlv(recipients.rest);  // originatorInfo
  REQUIRE(recipients.tag == 0x31);
  const Tlv ktri = ReadTlv(recipients.content);
  const Tlv ktri_version = ReadTlv(ktri.content);
  const Tlv rid = ReadTlv(ktri_version.rest);
  const Tlv key_alg = ReadTlv(rid.rest);
  const Tlv encrypted_key = ReadTlv(key_alg.rest);
  REQUIRE(encrypted_key.tag == 0x04);
  const Tlv eci = ReadTlv(recipients.rest);
  const Tlv content_type = ReadTlv(eci.content);
  const Tlv alg = ReadTlv(content_type.rest);
  const Tlv alg_oid = ReadTlv(alg.content);
  const Tlv iv = ReadTlv(alg_oid.rest);
  REQUIRE(iv.tag == 0x04);
  const Tlv encrypted = ReadTlv(alg.rest);
  REQUIRE(encrypted.tag == 0x80);  // [0] IMPLICIT, primitive (DER)
  return {Bytes(encrypted_key.content.begin(), encrypted_key.content.end()),
          Bytes(iv.content.begin(), iv.content.end()),
          Bytes(encrypted.content.begin(), encrypted.content.end())};
}

struct Pki {
  hsm::EscrowKeyInfo ca_key;
  hsm::EscrowKeyInfo escrow_key;
  IssuedCertificate ca;
  IssuedCertificate fleet;
};

Pki MakePki(hsm::KeyService& keys) {
  Pki pki;
  Result<hsm::EscrowKeyInfo> ca_key = keys.GenerateSigningKey(hsm::EscrowKeyKind::kCa, 1);
  REQUIRE(ca_key.ok());
  pki.ca_key = *ca_key;
  Result<hsm::EscrowKeyInfo> escrow_key = keys.GenerateCmsKey(1, hsm::kCmsKeyBits2048);
  REQUIRE(escrow_key.ok());
  pki.escrow_key = *escrow_key;
  Result<IssuedCertificate> ca = IssueCaCertificate(keys, pki.ca_key, Fields("Escrow CA", 3650));
  INFO(ca.status().ToString());
  REQUIRE(ca.ok());
  pki.ca = *ca;
  Result<IssuedCertificate> fleet =
      IssueEscrowCertificate(keys, 1, pki.ca.der, pki.escrow_key, Fields("Escrow fleet", 365));
  INFO(fleet.status().ToString());
  REQUIRE(fleet.ok());
  pki.fleet = *fleet;
  return pki;
}

TEST_CASE("The escrow CA certificate is self-signed by the HSM and says it is a CA",
          "[vault][escrow_cert][hsm]") {
  SoftHsmToken token;
  std::unique_ptr<hsm::KeyService> keys = OpenKeys(token);
  const Pki pki = MakePki(*keys);
  SslPtr<X509> ca = Parse(pki.ca.der);
  CHECK(X509_verify(ca.get(), X509_get0_pubkey(ca.get())) == 1);
  CHECK(X509_get_version(ca.get()) == X509_VERSION_3);
  CHECK(X509_get_signature_nid(ca.get()) == NID_ecdsa_with_SHA256);
  CHECK(X509_check_ca(ca.get()) == 1);
  CHECK((X509_get_key_usage(ca.get()) & KU_KEY_CERT_SIGN) != 0);
  CHECK((X509_get_key_usage(ca.get()) & KU_KEY_ENCIPHERMENT) == 0);
  CHECK(Hex(X509_get0_subject_key_id(ca.get())) == Hex(X509_get0_authority_key_id(ca.get())));
  CHECK(pki.ca.serial_hex.size() == 32);
  SslPtr<BIGNUM> serial(ASN1_INTEGER_to_BN(X509_get0_serialNumber(ca.get()), nullptr));
  SslBuffer<char> serial_hex(BN_bn2hex(serial.get()));
  std::string upper = pki.ca.serial_hex;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  CHECK(std::string(serial_hex.get()) == upper);
  CHECK(pki.ca.not_after - pki.ca.not_before == 3650LL * 86400);
  CHECK(ASN1_TIME_cmp_time_t(X509_get0_notAfter(ca.get()), pki.ca.not_after) == 0);
}

TEST_CASE("A fleet certificate carries the escrow key and verifies under the CA",
          "[vault][escrow_cert][hsm]") {
  SoftHsmToken token;
  std::unique_ptr<hsm::KeyService> keys = OpenKeys(token);
  const Pki pki = MakePki(*keys);
  SslPtr<X509> ca = Parse(pki.ca.der);
  SslPtr<X509> fleet = Parse(pki.fleet.der);
  CHECK(X509_verify(fleet.get(), X509_get0_pubkey(ca.get())) == 1);
  CHECK(X509_verify(fleet.get(), X509_get0_pubkey(fleet.get())) != 1);
  CHECK(X509_check_issued(ca.get(), fleet.get()) == X509_V_OK);
  CHECK(X509_check_ca(fleet.get()) == 0);
  CHECK(X509_get_key_usage(fleet.get()) == KU_KEY_ENCIPHERMENT);
  const int ku = X509_get_ext_by_NID(fleet.get(), NID_key_usage, -1);
  REQUIRE(ku >= 0);
  CHECK(X509_EXTENSION_get_critical(X509_get_ext(fleet.get(), ku)) == 1);
  CHECK(Hex(X509_get0_authority_key_id(fleet.get())) == Hex(X509_get0_subject_key_id(ca.get())));
  unsigned char* spki = nullptr;
  const int spki_len = i2d_PUBKEY(X509_get0_pubkey(fleet.get()), &spki);
  SslBuffer<unsigned char> spki_owner(spki);
  CHECK(Bytes(spki, spki + spki_len) == pki.escrow_key.public_key_der);
  CHECK(pki.fleet.serial_hex != pki.ca.serial_hex);

  TempDir dir;
  WriteFile(dir.path() / "ca.pem", CertificatePem(pki.ca.der));
  WriteFile(dir.path() / "fleet.pem", CertificatePem(pki.fleet.der));
  std::string out;
  CHECK(RunCommand("openssl verify -CAfile " + (dir.path() / "ca.pem").string() + " " +
                       (dir.path() / "fleet.pem").string() + " 2>&1",
                   &out) == 0);
  INFO(out);
  out.clear();
  REQUIRE(RunCommand("openssl x509 -noout -fingerprint -sha256 -in " +
                         (dir.path() / "fleet.pem").string(),
                     &out) == 0);
  std::string colons;
  for (std::size_t i = 0; i < pki.fleet.sha256_hex.size(); i += 2) {
    if (i) colons += ':';
    colons += pki.fleet.sha256_hex.substr(i, 2);
  }
  for (char& c : colons) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  CHECK(out.find(colons) != std::string::npos);
}

TEST_CASE("A device certificate names the device and has its own serial",
          "[vault][escrow_cert][hsm]") {
  SoftHsmToken token;
  std::unique_ptr<hsm::KeyService> keys = OpenKeys(token);
  const Pki pki = MakePki(*keys);
  CertificateFields f = Fields("Escrow fleet", 365);
  f.device_id = "C02XYZ-device-7";
  Result<IssuedCertificate> device = IssueEscrowCertificate(*keys, 1, pki.ca.der, pki.escrow_key, f);
  REQUIRE(device.ok());
  SslPtr<X509> cert = Parse(device->der);
  SslPtr<X509> ca = Parse(pki.ca.der);
  CHECK(X509_verify(cert.get(), X509_get0_pubkey(ca.get())) == 1);
  SslBuffer<char> subject(X509_NAME_oneline(X509_get_subject_name(cert.get()), nullptr, 0));
  CHECK(std::string(subject.get()) == "/CN=Escrow fleet/UID=C02XYZ-device-7");
  CHECK(device->serial_hex != pki.fleet.serial_hex);
}

TEST_CASE("Certificates are refused for bad fields or a CA key that is not the certificate's",
          "[vault][escrow_cert][hsm]") {
  SoftHsmToken token;
  std::unique_ptr<hsm::KeyService> keys = OpenKeys(token);
  const Pki pki = MakePki(*keys);
  CertificateFields f = Fields("Escrow fleet", 365);
  f.days = 0;
  CHECK(IssueEscrowCertificate(*keys, 1, pki.ca.der, pki.escrow_key, f).status().code() ==
        Code::kInvalidArgument);
  f = Fields(std::string(65, 'x'), 365);
  CHECK(IssueEscrowCertificate(*keys, 1, pki.ca.der, pki.escrow_key, f).status().code() ==
        Code::kInvalidArgument);
  f = Fields("Escrow fleet", 365);
  f.serial[0] = 0x80;  // negative
  CHECK(IssueEscrowCertificate(*keys, 1, pki.ca.der, pki.escrow_key, f).status().code() ==
        Code::kInvalidArgument);
  f = Fields("Escrow fleet", 365);
  CHECK(IssueEscrowCertificate(*keys, 1, pki.ca.der, pki.ca_key, f).status().code() ==
        Code::kInvalidArgument);  // a CA key is not an escrow key
  REQUIRE(keys->GenerateSigningKey(hsm::EscrowKeyKind::kCa, 2).ok());
  CHECK(IssueEscrowCertificate(*keys, 2, pki.ca.der, pki.escrow_key, f).status().code() ==
        Code::kInternal);  // signed by escrow-ca-v2, named as escrow-ca-v1's
  CHECK(IssueEscrowCertificate(*keys, 3, pki.ca.der, pki.escrow_key, f).status().code() ==
        Code::kNotFound);
}

TEST_CASE("Envelopes from openssl cms -encrypt to an escrow certificate open in the HSM",
          "[vault][escrow_cert][hsm][cms]") {
  SoftHsmToken token;
  std::unique_ptr<hsm::KeyService> keys = OpenKeys(token);
  const Pki pki = MakePki(*keys);
  TempDir dir;
  const std::string cert = (dir.path() / "fleet.pem").string();
  WriteFile(cert, CertificatePem(pki.fleet.der));
  const std::string key_text = "ABCD-EFGH-IJKL-MNOP-QRST-UVWX";
  WriteFile(dir.path() / "key.txt", key_text);

  struct Case {
    std::string flags;
    hsm::ContentCipher cipher;
    hsm::KeyTransportAlgorithm transport;
  };
  const hsm::KeyTransportAlgorithm oaep{hsm::KeyTransport::kRsaOaep, hsm::OaepDigest::kSha1,
                                        hsm::OaepDigest::kSha1};
  const Case c = GENERATE_COPY(
      Case{"-aes256", hsm::ContentCipher::kAes256Cbc, {}},
      Case{"-aes128", hsm::ContentCipher::kAes128Cbc, {}},
      Case{"-des3", hsm::ContentCipher::kDesEde3Cbc, {}},
      Case{"-aes256 -keyid", hsm::ContentCipher::kAes256Cbc, {}},
      Case{"-aes256", hsm::ContentCipher::kAes256Cbc, oaep});
  const std::string envelope = (dir.path() / "key.cms").string();
  std::string out;
  // -keyopt applies to the -recip before it.
  const std::string recipient = c.transport.scheme == hsm::KeyTransport::kRsaOaep
                                    ? " -recip " + cert + " -keyopt rsa_padding_mode:oaep"
                                    : " " + cert;
  const std::string command = "openssl cms -encrypt -binary " + c.flags + " -in " +
                              (dir.path() / "key.txt").string() + " -outform DER -out " +
                              envelope + recipient + " 2>&1";
  INFO(command);
  REQUIRE(RunCommand(command, &out) == 0);
  const CmsPieces pieces = ReadEnvelope(testing::ReadFileBytes(envelope));
  const hsm::OpenedEnvelope opened = keys->OpenEnvelope(
      {1, c.transport, pieces.encrypted_key, c.cipher, pieces.iv, pieces.ciphertext});
  INFO(opened.content.status().ToString() << " " << hsm::EnvelopeCauseText(opened.cause));
  REQUIRE(opened.content.ok());
  CHECK(opened.content->RevealSecretText() == key_text);
}

}  // namespace
}  // namespace escrow::vault
