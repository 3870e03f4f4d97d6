#include "vault/cms_envelope.h"

#include <catch2/catch.hpp>

#include <string>

#include <openssl/cms.h>
#include <openssl/rsa.h>

#include "tests/vault/cms_test_util.h"

namespace escrow::vault {
namespace {

using testing::Keys;
using testing::kPlaintext;
using testing::OpensslCms;
using testing::OpenInSoftware;

std::string Cert(int i) { return "'" + Keys().cert_path[i] + "'"; }

Envelope Parsed(const Bytes& der) {
  Result<Envelope> envelope = ParseEnvelope(der);
  INFO(envelope.status().ToString());
  REQUIRE(envelope.ok());
  return std::move(envelope).value();
}

// The recipient naming certificate `i`, through the matcher (fleet: SKI accepted).
std::size_t RecipientFor(const Envelope& envelope, int i) {
  const CandidateCertificate candidate{Keys().cert[i].get(), true};
  const auto matches = MatchRecipients(envelope.recipients, {&candidate, 1});
  REQUIRE(matches.size() == 1);
  return matches[0].recipient;
}

TEST_CASE("Envelopes from the openssl command line open to their plaintext",
          "[vault][cms]") {
  struct Case {
    const char* cipher_flag;
    ContentCipher cipher;
  };
  const Case cases[] = {{"-des3", ContentCipher::kDesEde3Cbc},
                        {"-aes128", ContentCipher::kAes128Cbc},
                        {"-aes192", ContentCipher::kAes192Cbc},
                        {"-aes256", ContentCipher::kAes256Cbc}};
  for (const Case& c : cases) {
    INFO(c.cipher_flag);
    SECTION(std::string("PKCS#1 v1.5, issuer and serial, ") + c.cipher_flag) {
      const Envelope e = Parsed(OpensslCms(std::string(c.cipher_flag) + " " + Cert(0)));
      REQUIRE(e.recipients.size() == 1);
      CHECK(e.skipped_recipients == 0);
      CHECK(e.cipher == c.cipher);
      CHECK(e.iv.size() == CipherIvBytes(c.cipher));
      CHECK(e.encrypted_content.size() % CipherBlockBytes(c.cipher) == 0);
      const Recipient& r = e.recipients[0];
      CHECK(r.id.kind == RecipientId::Kind::kIssuerAndSerial);
      CHECK(r.key_encryption == KeyEncryption::kRsaPkcs1v15);
      CHECK(r.encrypted_key.size() == 256);
      CHECK(OpenInSoftware(e, 0, Keys().key[0].get()) == kPlaintext);
      CHECK(OpenInSoftware(e, 0, Keys().key[1].get()).empty());
    }
    SECTION(std::string("OAEP SHA-1, by key identifier, ") + c.cipher_flag) {
      const Envelope e = Parsed(OpensslCms(std::string(c.cipher_flag) + " -keyid -recip " +
                                           Cert(1) + " -keyopt rsa_padding_mode:oaep"));
      REQUIRE(e.recipients.size() == 1);
      const Recipient& r = e.recipients[0];
      CHECK(r.id.kind == RecipientId::Kind::kSubjectKeyId);
      CHECK(r.id.subject_key_id.size() == 20);
      CHECK(r.key_encryption == KeyEncryption::kRsaOaep);
      CHECK(r.oaep_hash == OaepHash::kSha1);
      CHECK(r.mgf1_hash == OaepHash::kSha1);
      CHECK(e.cipher == c.cipher);
      CHECK(OpenInSoftware(e, 0, Keys().key[1].get()) == kPlaintext);
    }
  }
}

TEST_CASE("OAEP with SHA-256 from the command line names SHA-256 for both hashes",
          "[vault][cms]") {
  const Envelope e = Parsed(OpensslCms("-aes256 -recip " + Cert(0) +
                                       " -keyopt rsa_padding_mode:oaep -keyopt rsa_oaep_md:sha256"));
  REQUIRE(e.recipients.size() == 1);
  CHECK(e.recipients[0].key_encryption == KeyEncryption::kRsaOaep);
  CHECK(e.recipients[0].oaep_hash == OaepHash::kSha256);
  CHECK(e.recipients[0].mgf1_hash == OaepHash::kSha256);
  CHECK(OpenInSoftware(e, 0, Keys().key[0].get()) == kPlaintext);
}

TEST_CASE("An envelope to two recipients gives both, each opening with its own key",
          "[vault][cms]") {
  SECTION("both by issuer and serial") {
    const Envelope e = Parsed(OpensslCms("-aes256 " + Cert(0) + " " + Cert(1)));
    REQUIRE(e.recipients.size() == 2);
    for (int i = 0; i < 2; ++i) {
      CHECK(OpenInSoftware(e, RecipientFor(e, i), Keys().key[i].get()) == kPlaintext);
    }
    CHECK(RecipientFor(e, 0) != RecipientFor(e, 1));
  }
  SECTION("both by key identifier (-keyid is global), one OAEP, one PKCS#1 v1.5") {
    const Envelope e = Parsed(OpensslCms("-des3 -keyid -recip " + Cert(0) +
                                         " -keyopt rsa_padding_mode:oaep " + Cert(1)));
    REQUIRE(e.recipients.size() == 2);
    for (const Recipient& r : e.recipients) {
      CHECK(r.id.kind == RecipientId::Kind::kSubjectKeyId);
    }
    CHECK(e.recipients[RecipientFor(e, 0)].key_encryption == KeyEncryption::kRsaOaep);
    CHECK(e.recipients[RecipientFor(e, 1)].key_encryption == KeyEncryption::kRsaPkcs1v15);
    for (int i = 0; i < 2; ++i) {
      CHECK(OpenInSoftware(e, RecipientFor(e, i), Keys().key[i].get()) == kPlaintext);
    }
  }
}

TEST_CASE("A BER streamed envelope (indefinite lengths) is read as OpenSSL reads it",
          "[vault][cms]") {
  const Envelope e = Parsed(OpensslCms("-stream -aes128 " + Cert(0)));
  CHECK(OpenInSoftware(e, 0, Keys().key[0].get()) == kPlaintext);
}

TEST_CASE("A recovery key with binary bytes and full blocks comes back exactly",
          "[vault][cms]") {
  const std::string plaintext("0123456789abcdef\0\x01\xff", 19);
  const Envelope e = Parsed(OpensslCms("-aes192 " + Cert(1), plaintext));
  CHECK(OpenInSoftware(e, 0, Keys().key[1].get()) == plaintext);
}

// OpenSSL's C API, as a second independent writer; `oaep_md` null means PKCS#1 v1.5.
Bytes EncryptWithCApi(const EVP_CIPHER* cipher, unsigned int flags, const EVP_MD* oaep_md) {
  const SslPtr<BIO> in(BIO_new_mem_buf(kPlaintext.data(), static_cast<int>(kPlaintext.size())));
  const SslPtr<CMS_ContentInfo> cms(
      CMS_encrypt(nullptr, in.get(), cipher, flags | CMS_BINARY | CMS_PARTIAL));
  REQUIRE(cms != nullptr);
  CMS_RecipientInfo* ri = CMS_add1_recipient_cert(cms.get(), Keys().cert[0].get(),
                                                  flags | CMS_KEY_PARAM);
  REQUIRE(ri != nullptr);
  if (oaep_md != nullptr) {
    EVP_PKEY_CTX* pctx = CMS_RecipientInfo_get0_pkey_ctx(ri);
    REQUIRE(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_OAEP_PADDING) == 1);
    REQUIRE(EVP_PKEY_CTX_set_rsa_oaep_md(pctx, oaep_md) == 1);
    REQUIRE(EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha1()) == 1);
  }
  const SslPtr<BIO> data(BIO_new_mem_buf(kPlaintext.data(), static_cast<int>(kPlaintext.size())));
  REQUIRE(CMS_final(cms.get(), data.get(), nullptr, CMS_BINARY) == 1);
  unsigned char* der = nullptr;
  const int len = i2d_CMS_ContentInfo(cms.get(), &der);
  const SslBuffer<unsigned char> owner(der);
  REQUIRE(len > 0);
  return {der, der + len};
}

TEST_CASE("Envelopes from OpenSSL's C API open to their plaintext", "[vault][cms]") {
  SECTION("AES-128, PKCS#1 v1.5, issuer and serial") {
    const Envelope e = Parsed(EncryptWithCApi(EVP_aes_128_cbc(), 0, nullptr));
    CHECK(e.cipher == ContentCipher::kAes128Cbc);
    CHECK(e.recipients.at(0).key_encryption == KeyEncryption::kRsaPkcs1v15);
    CHECK(OpenInSoftware(e, 0, Keys().key[0].get()) == kPlaintext);
  }
  SECTION("AES-256, OAEP SHA-384 with MGF1 SHA-1, key identifier") {
    const Envelope e = Parsed(EncryptWithCApi(EVP_aes_256_cbc(), CMS_USE_KEYID, EVP_sha384()));
    const Recipient& r = e.recipients.at(0);
    CHECK(r.id.kind == RecipientId::Kind::kSubjectKeyId);
    CHECK(r.oaep_hash == OaepHash::kSha384);
    CHECK(r.mgf1_hash == OaepHash::kSha1);
    CHECK(OpenInSoftware(e, 0, Keys().key[0].get()) == kPlaintext);
  }
  SECTION("DES-EDE3, OAEP SHA-512") {
    const Envelope e = Parsed(EncryptWithCApi(EVP_des_ede3_cbc(), 0, EVP_sha512()));
    CHECK(e.cipher == ContentCipher::kDesEde3Cbc);
    CHECK(e.recipients.at(0).oaep_hash == OaepHash::kSha512);
    CHECK(OpenInSoftware(e, 0, Keys().key[0].get()) == kPlaintext);
  }
}

TEST_CASE("The matcher pairs recipients with certificates by issuer and serial or by SKI",
          "[vault][cms]") {
  X509* c0 = Keys().cert[0].get();
  X509* c1 = Keys().cert[1].get();
  SECTION("issuer and serial matches only its certificate, SKI accepted or not") {
    const Envelope e = Parsed(OpensslCms("-aes256 " + Cert(1)));
    const CandidateCertificate per_device[] = {{c0, false}, {c1, false}};
    const auto matches = MatchRecipients(e.recipients, per_device);
    REQUIRE(matches.size() == 1);
    CHECK(matches[0].recipient == 0);
    CHECK(matches[0].candidate == 1);
  }
  SECTION("a key identifier matches only candidates that accept it") {
    const Envelope e = Parsed(OpensslCms("-aes256 -keyid " + Cert(0)));
    const CandidateCertificate per_device[] = {{c0, false}, {c1, false}};
    CHECK(MatchRecipients(e.recipients, per_device).empty());
    const CandidateCertificate fleet[] = {{c1, true}, {c0, true}};
    const auto matches = MatchRecipients(e.recipients, fleet);
    REQUIRE(matches.size() == 1);
    CHECK(matches[0].candidate == 1);
  }
  SECTION("two recipients, two candidates: each pair once, in recipient order") {
    const Envelope e = Parsed(OpensslCms("-aes256 -keyid " + Cert(0) + " " + Cert(1)));
    const CandidateCertificate fleet[] = {{c0, true}, {c1, true}};
    const auto matches = MatchRecipients(e.recipients, fleet);
    REQUIRE(matches.size() == 2);
    CHECK(matches[0].recipient == 0);
    CHECK(matches[1].recipient == 1);
    CHECK(matches[0].candidate != matches[1].candidate);
  }
  SECTION("the same issuer with another serial does not match") {
    Envelope e = Parsed(OpensslCms("-aes256 " + Cert(0)));
    e.recipients[0].id.serial.back() ^= 1;
    const CandidateCertificate fleet[] = {{c0, true}};
    CHECK(MatchRecipients(e.recipients, fleet).empty());
  }
  SECTION("no candidates, no match") {
    const Envelope e = Parsed(OpensslCms("-aes256 " + Cert(0)));
    CHECK(MatchRecipients(e.recipients, {}).empty());
  }
}

}  // namespace
}  // namespace escrow::vault
