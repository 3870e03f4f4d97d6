// The escrow keys (hsm/escrow_keys.h) on real SoftHSMv2 tokens: what each private key may do
// (as pkcs11-tool sees it), the CA's signatures (verified by OpenSSL), and envelopes made by
// OpenSSL's C API opened inside the token, with every failure answering the same.
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <openssl/evp.h>

#include "base/ssl_ptr.h"
#include "hsm/key_objects.h"
#include "hsm/key_service.h"
#include "hsm/pkcs11_module.h"
#include "hsm/pkcs11_session.h"
#include "hsm/token_slots.h"
#include "tests/hsm/envelope_pieces.h"
#include "tests/hsm/key_service_fixture.h"
#include "tests/hsm/pkcs11_tool.h"
#include "tests/support/softhsm_token.h"

namespace escrow::hsm {
namespace {

using escrow::testing::MakeEnvelope;
using escrow::testing::SoftHsmToken;

constexpr std::string_view kContent = "1234-5678-ABCD-EFGH-IJKL-MNOP-QRST";  // not 16-aligned
constexpr KeyTransportAlgorithm kPkcs1{KeyTransport::kRsaPkcs1v15};
constexpr KeyTransportAlgorithm kOaepSha1{KeyTransport::kRsaOaep, OaepDigest::kSha1,
                                          OaepDigest::kSha1};
constexpr KeyTransportAlgorithm kOaepSha256{KeyTransport::kRsaOaep, OaepDigest::kSha256,
                                            OaepDigest::kSha256};

// pkcs11-tool's block for the object labelled `label` of `type` (privkey, pubkey).
std::string ListedObject(const SoftHsmToken& token, const std::string& type,
                         const std::string& label) {
  std::string listing;
  REQUIRE(Pkcs11Tool(token, "--list-objects --type " + type, &listing) == 0);
  INFO(listing);
  const std::size_t at = listing.find("label:      " + label + "\n");
  REQUIRE(at != std::string::npos);
  const std::size_t end = listing.find("Object;", at);
  return listing.substr(at, end == std::string::npos ? std::string::npos : end - at);
}

// A second logged-in session of this process: it sees the service's session objects.
Pkcs11Session Observer(const SoftHsmToken& token) {
  Result<std::shared_ptr<Pkcs11Module>> module =
      Pkcs11Module::Acquire(token.module_path(), token.init_args());
  REQUIRE(module.ok());
  Result<CK_SLOT_ID> slot = FindTokenSlot(**module, token.label());
  REQUIRE(slot.ok());
  Result<Pkcs11Session> session = Pkcs11Session::Open(*module, *slot, true);
  REQUIRE(session.ok());
  REQUIRE(session->Login(CKU_USER, SecretBytes::CopyOf(token.pin())).ok());
  return std::move(session).value();
}

std::size_t SessionObjects(Pkcs11Session& observer) {
  CK_BBOOL no = CK_FALSE;
  CK_ATTRIBUTE attrs[] = {{CKA_TOKEN, &no, sizeof no}};
  Result<std::vector<CK_OBJECT_HANDLE>> found = FindObjects(observer, attrs);
  REQUIRE(found.ok());
  return found->size();
}

SslPtr<EVP_PKEY> PublicKey(const Bytes& spki) {
  const unsigned char* p = spki.data();
  SslPtr<EVP_PKEY> key(d2i_PUBKEY(nullptr, &p, static_cast<long>(spki.size())));
  REQUIRE(key);
  REQUIRE(p == spki.data() + spki.size());
  return key;
}

void RequireInvalidCms(const OpenedEnvelope& opened, EnvelopeCause cause) {
  INFO(opened.content.status().ToString() << " cause " << EnvelopeCauseText(opened.cause));
  REQUIRE_FALSE(opened.content.ok());
  CHECK(opened.content.status().code() == Code::kInvalidArgument);
  CHECK(opened.content.status().reason() == kInvalidCms);
  CHECK(opened.content.status().message() == kEnvelopeDoesNotOpen);
  CHECK(opened.cause == cause);
}

TEST_CASE("An escrow key is an RSA key pair whose private key may only unwrap",
          "[hsm][escrow_keys]") {
  ESCROW_SKIP_ON_NSS("pkcs11-tool cannot pass init_args");
  SoftHsmToken token;
  std::unique_ptr<KeyService> keys = OpenKeys(token);
  Result<EscrowKeyInfo> made = keys->GenerateCmsKey(1, kCmsKeyBits2048);
  INFO(made.status().ToString());
  REQUIRE(made.ok());
  CHECK(made->label == "escrow-cms-v1");
  CHECK(made->bits == 2048);
  CHECK(made->sensitive);
  CHECK_FALSE(made->extractable);
  SslPtr<EVP_PKEY> pub = PublicKey(made->public_key_der);
  CHECK(EVP_PKEY_get_base_id(pub.get()) == EVP_PKEY_RSA);

  const std::string priv = ListedObject(token, "privkey", "escrow-cms-v1");
  CHECK(priv.find("Usage:      unwrap\n") != std::string::npos);
  CHECK(priv.find("Access:     sensitive, always sensitive, never extractable, local") !=
        std::string::npos);
  INFO(priv);

  Result<EscrowKeyInfo> found = keys->FindEscrowKey(EscrowKeyKind::kCms, 1);
  REQUIRE(found.ok());
  CHECK(found->public_key_der == made->public_key_der);
  CHECK(keys->GenerateCmsKey(1, kCmsKeyBits2048).status().code() == Code::kAlreadyExists);
  CHECK(keys->GenerateCmsKey(2, 1024).status().code() == Code::kInvalidArgument);
  CHECK(keys->FindEscrowKey(EscrowKeyKind::kCa, 1).status().code() == Code::kNotFound);

  Result<EscrowKeyInfo> big = keys->GenerateCmsKey(2, kCmsKeyBits3072);
  REQUIRE(big.ok());
  CHECK(big->bits == 3072);

  // Not a KeyRole key: the symmetric listing (backup, rotate, release checks) never sees it.
  Result<std::vector<KeyInfo>> symmetric = keys->ListKeys();
  REQUIRE(symmetric.ok());
  CHECK(symmetric->empty());
  Result<std::vector<EscrowKeyInfo>> listed = keys->ListEscrowKeys();
  REQUIRE(listed.ok());
  REQUIRE(listed->size() == 2);
  CHECK((*listed)[0].label == "escrow-cms-v1");
  CHECK((*listed)[1].label == "escrow-cms-v2");

  REQUIRE(keys->DestroyEscrowKey(EscrowKeyKind::kCms, 1).ok());
  CHECK(keys->FindEscrowKey(EscrowKeyKind::kCms, 1).status().code() == Code::kNotFound);
  CHECK(keys->DestroyEscrowKey(EscrowKeyKind::kCms, 1).code() == Code::kNotFound);
}

TEST_CASE("The escrow CA key only signs, and OpenSSL verifies its signatures",
          "[hsm][escrow_keys]") {
  ESCROW_SKIP_ON_NSS("pkcs11-tool cannot pass init_args");
  SoftHsmToken token;
  std::unique_ptr<KeyService> keys = OpenKeys(token);
  Result<EscrowKeyInfo> ca = keys->GenerateSigningKey(EscrowKeyKind::kCa, 1);
  INFO(ca.status().ToString());
  REQUIRE(ca.ok());
  CHECK(ca->label == "escrow-ca-v1");
  CHECK(ca->bits == 256);
  const std::string priv = ListedObject(token, "privkey", "escrow-ca-v1");
  INFO(priv);
  CHECK(priv.find("Usage:      sign\n") != std::string::npos);
  CHECK(priv.find("Access:     sensitive, always sensitive, never extractable, local") !=
        std::string::npos);

  const Bytes data = {'t', 'b', 's'};
  Result<Bytes> sig = keys->EcdsaSign(EscrowKeyKind::kCa, 1, data);
  REQUIRE(sig.ok());
  SslPtr<EVP_PKEY> pub = PublicKey(ca->public_key_der);
  SslPtr<EVP_MD_CTX> ctx(EVP_MD_CTX_new());
  REQUIRE(EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, pub.get()) == 1);
  CHECK(EVP_DigestVerify(ctx.get(), sig->data(), sig->size(), data.data(), data.size()) == 1);
  const Bytes other = {'t', 'b', 'S'};
  REQUIRE(EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, pub.get()) == 1);
  CHECK(EVP_DigestVerify(ctx.get(), sig->data(), sig->size(), other.data(), other.size()) != 1);

  CHECK(keys->EcdsaSign(EscrowKeyKind::kCa, 2, data).status().code() == Code::kNotFound);
  // An escrow (RSA) key of the same version is not a CA key, and never signs.
  REQUIRE(keys->GenerateCmsKey(2, kCmsKeyBits2048).ok());
  CHECK(keys->EcdsaSign(EscrowKeyKind::kCa, 2, data).status().code() == Code::kNotFound);
  CHECK(keys->EcdsaSign(EscrowKeyKind::kCms, 2, data).status().code() == Code::kInvalidArgument);
  CHECK(keys->GenerateSigningKey(EscrowKeyKind::kCms, 3).status().code() == Code::kInvalidArgument);
}

TEST_CASE("The audit signing key is a sign-only P-256 pair apart from the CA and MAC keys",
          "[hsm][escrow_keys][audit_sign]") {
  ESCROW_SKIP_ON_NSS("pkcs11-tool cannot pass init_args");
  SoftHsmToken token;
  std::unique_ptr<KeyService> keys = OpenKeys(token);
  CHECK(keys->FindEscrowKey(EscrowKeyKind::kAuditSign, 1).status().code() == Code::kNotFound);
  Result<EscrowKeyInfo> made = keys->GenerateSigningKey(EscrowKeyKind::kAuditSign, 1);
  INFO(made.status().ToString());
  REQUIRE(made.ok());
  CHECK(made->kind == EscrowKeyKind::kAuditSign);
  CHECK(made->label == "escrow-audit-sign-v1");
  CHECK(made->bits == 256);
  CHECK(made->sensitive);
  CHECK_FALSE(made->extractable);
  CHECK(keys->GenerateSigningKey(EscrowKeyKind::kAuditSign, 1).status().code() ==
        Code::kAlreadyExists);

  // As pkcs11-tool sees it: the private key signs and does nothing else, never leaves the
  // token; the public key is a token object under the same label.
  const std::string priv = ListedObject(token, "privkey", "escrow-audit-sign-v1");
  INFO(priv);
  CHECK(priv.find("Usage:      sign\n") != std::string::npos);
  CHECK(priv.find("Access:     sensitive, always sensitive, never extractable, local") !=
        std::string::npos);
  const std::string pub = ListedObject(token, "pubkey", "escrow-audit-sign-v1");
  INFO(pub);
  CHECK(pub.find("Usage:      sign") == std::string::npos);

  Result<EscrowKeyInfo> found = keys->FindEscrowKey(EscrowKeyKind::kAuditSign, 1);
  REQUIRE(found.ok());
  CHECK(found->public_key_der == made->public_key_der);
  // Not the CA key of the same version, not a MAC key (escrow-audit-v<N>), and listed.
  CHECK(keys->FindEscrowKey(EscrowKeyKind::kCa, 1).status().code() == Code::kNotFound);
  CHECK(keys->FindKey(KeyRole::kAudit, 1).status().code() == Code::kNotFound);
  Result<std::vector<KeyInfo>> symmetric = keys->ListKeys();
  REQUIRE(symmetric.ok());
  CHECK(symmetric->empty());
  REQUIRE(keys->GenerateSigningKey(EscrowKeyKind::kCa, 1).ok());
  REQUIRE(keys->GenerateSigningKey(EscrowKeyKind::kAuditSign, 2).ok());
  Result<std::vector<EscrowKeyInfo>> listed = keys->ListEscrowKeys();
  REQUIRE(listed.ok());
  REQUIRE(listed->size() == 3);
  CHECK((*listed)[0].label == "escrow-ca-v1");
  CHECK((*listed)[1].label == "escrow-audit-sign-v1");
  CHECK((*listed)[2].label == "escrow-audit-sign-v2");

  // A checkpoint message's signature verifies under the public key, and only for its bytes.
  const Bytes data = {'e', 's', 'c', 'r', 'o', 'w', '-', 'c', 'h',
                      'e', 'c', 'k', 'p', 'o', 'i', 'n', 't', 1};
  Result<Bytes> sig = keys->EcdsaSign(EscrowKeyKind::kAuditSign, 1, data);
  REQUIRE(sig.ok());
  SslPtr<EVP_PKEY> key = PublicKey(found->public_key_der);
  SslPtr<EVP_MD_CTX> ctx(EVP_MD_CTX_new());
  REQUIRE(EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get()) == 1);
  CHECK(EVP_DigestVerify(ctx.get(), sig->data(), sig->size(), data.data(), data.size()) == 1);
  Bytes other = data;
  other.back() = 2;
  REQUIRE(EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get()) == 1);
  CHECK(EVP_DigestVerify(ctx.get(), sig->data(), sig->size(), other.data(), other.size()) != 1);
  // The CA key of the same version signs with its own key, which this public key refuses.
  Result<Bytes> ca_sig = keys->EcdsaSign(EscrowKeyKind::kCa, 1, data);
  REQUIRE(ca_sig.ok());
  REQUIRE(EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get()) == 1);
  CHECK(EVP_DigestVerify(ctx.get(), ca_sig->data(), ca_sig->size(), data.data(), data.size()) != 1);
  CHECK(keys->EcdsaSign(EscrowKeyKind::kAuditSign, 3, data).status().code() == Code::kNotFound);
}

TEST_CASE("OpenEnvelope opens OpenSSL's envelopes for every cipher and key transport",
          "[hsm][escrow_keys][envelope]") {
  SoftHsmToken token;
  std::unique_ptr<KeyService> keys = OpenKeys(token);
  Pkcs11Session observer = Observer(token);
  const auto bits = GENERATE(kCmsKeyBits2048, kCmsKeyBits3072);
  Result<EscrowKeyInfo> escrow = keys->GenerateCmsKey(3, bits);
  REQUIRE(escrow.ok());
  const std::size_t before = SessionObjects(observer);
  for (const KeyTransportAlgorithm& transport : {kPkcs1, kOaepSha1}) {
    for (const ContentCipher cipher : {ContentCipher::kAes128Cbc, ContentCipher::kAes192Cbc,
                                       ContentCipher::kAes256Cbc, ContentCipher::kDesEde3Cbc}) {
      const testing::EnvelopePieces e =
          MakeEnvelope(escrow->public_key_der, transport, cipher, kContent);
      const OpenedEnvelope opened = keys->OpenEnvelope(e.ToOpen(3));
      INFO(opened.content.status().ToString() << " cause " << EnvelopeCauseText(opened.cause));
      REQUIRE(opened.content.ok());
      CHECK(opened.cause == EnvelopeCause::kNone);
      CHECK(opened.content->RevealSecretText() == kContent);
    }
  }
  CHECK(SessionObjects(observer) == before);  // every CEK destroyed
}

TEST_CASE("Every envelope that does not open fails the same way and only the audit cause differs",
          "[hsm][escrow_keys][envelope]") {
  SoftHsmToken token;
  std::unique_ptr<KeyService> keys = OpenKeys(token);
  Pkcs11Session observer = Observer(token);
  Result<EscrowKeyInfo> escrow = keys->GenerateCmsKey(1, kCmsKeyBits2048);
  REQUIRE(escrow.ok());
  const std::size_t before = SessionObjects(observer);
  // 32 bytes of content: the last block is all padding (16 x 0x10), so flipping any bit of
  // the block before it breaks the padding for certain.
  const std::string content(32, 'k');

  SECTION("a flipped bit in the encrypted key, for each transport") {
    for (const KeyTransportAlgorithm& transport : {kPkcs1, kOaepSha1}) {
      const testing::EnvelopePieces e =
          MakeEnvelope(escrow->public_key_der, transport, ContentCipher::kAes256Cbc, content);
      for (const std::size_t bit : {0UL, 7UL, 100UL, 1000UL, 2047UL}) {
        testing::EnvelopePieces bad = e;
        bad.encrypted_key[bit / 8] ^= static_cast<std::uint8_t>(0x80U >> (bit % 8));
        const OpenedEnvelope opened = keys->OpenEnvelope(bad.ToOpen(1));
        // Usually "unwrap"; a flipped PKCS#1 block may still unwrap to a 32-byte key, whose
        // content then fails to decrypt. Either way the caller sees the same answer.
        RequireInvalidCms(opened, opened.cause == EnvelopeCause::kDecrypt
                                      ? EnvelopeCause::kDecrypt
                                      : EnvelopeCause::kUnwrap);
      }
    }
  }
  SECTION("a flipped bit in the content") {
    const testing::EnvelopePieces e =
        MakeEnvelope(escrow->public_key_der, kPkcs1, ContentCipher::kAes128Cbc, content);
    for (int bit = 0; bit < 8; ++bit) {
      testing::EnvelopePieces bad = e;
      // The last byte of the block before the padding block: it flips a padding byte.
      bad.ciphertext[bad.ciphertext.size() - 17] ^= static_cast<std::uint8_t>(1U << bit);
      RequireInvalidCms(keys->OpenEnvelope(bad.ToOpen(1)), EnvelopeCause::kDecrypt);
    }
  }
  SECTION("a content-encryption key of the wrong length for the cipher") {
    // The token cannot tell the length (escrow_crypto.cc): it is a wrong key, so "decrypt",
    // except that a wrong key passes CBC's padding check about once in 256 tries; then the
    // content must be garbage (the caller's key-format check refuses it).
    for (int i = 0; i < 8; ++i) {
      const testing::EnvelopePieces e = MakeEnvelope(
          escrow->public_key_der, kPkcs1, ContentCipher::kAes256Cbc, content, /*cek_bytes=*/16);
      const OpenedEnvelope opened = keys->OpenEnvelope(e.ToOpen(1));
      if (opened.content.ok()) {
        CHECK(opened.content->RevealSecretText() != content);  // garbage, never the content
        continue;
      }
      RequireInvalidCms(opened, EnvelopeCause::kDecrypt);
    }
  }
  SECTION("OAEP with SHA-256, which SoftHSMv2 cannot unwrap") {
    const testing::EnvelopePieces e =
        MakeEnvelope(escrow->public_key_der, kOaepSha256, ContentCipher::kAes256Cbc, content);
    const OpenedEnvelope opened = keys->OpenEnvelope(e.ToOpen(1));
    RequireInvalidCms(opened, EnvelopeCause::kMechanismUnsupported);
    CHECK(EnvelopeCauseText(opened.cause) == "mechanism unsupported");
  }
  SECTION("an escrow key version that does not exist") {
    const testing::EnvelopePieces e =
        MakeEnvelope(escrow->public_key_der, kPkcs1, ContentCipher::kAes256Cbc, content);
    RequireInvalidCms(keys->OpenEnvelope(e.ToOpen(2)), EnvelopeCause::kNoSuchKey);
  }
  SECTION("another escrow key's envelope") {
    Result<EscrowKeyInfo> other = keys->GenerateCmsKey(2, kCmsKeyBits2048);
    REQUIRE(other.ok());
    const testing::EnvelopePieces e =
        MakeEnvelope(other->public_key_der, kPkcs1, ContentCipher::kAes256Cbc, content);
    const OpenedEnvelope opened = keys->OpenEnvelope(e.ToOpen(1));
    RequireInvalidCms(opened, opened.cause == EnvelopeCause::kDecrypt ? EnvelopeCause::kDecrypt
                                                                      : EnvelopeCause::kUnwrap);
    CHECK(keys->OpenEnvelope(e.ToOpen(2)).content.ok());
  }
  SECTION("sizes that cannot be right") {
    const testing::EnvelopePieces e =
        MakeEnvelope(escrow->public_key_der, kPkcs1, ContentCipher::kAes256Cbc, content);
    testing::EnvelopePieces short_iv = e;
    short_iv.iv.pop_back();
    RequireInvalidCms(keys->OpenEnvelope(short_iv.ToOpen(1)), EnvelopeCause::kMalformed);
    testing::EnvelopePieces ragged = e;
    ragged.ciphertext.pop_back();
    RequireInvalidCms(keys->OpenEnvelope(ragged.ToOpen(1)), EnvelopeCause::kMalformed);
    testing::EnvelopePieces des_iv = e;
    des_iv.cipher = ContentCipher::kDesEde3Cbc;  // a 16-byte IV is not DES's
    RequireInvalidCms(keys->OpenEnvelope(des_iv.ToOpen(1)), EnvelopeCause::kMalformed);
    testing::EnvelopePieces truncated = e;
    truncated.encrypted_key.resize(100);
    RequireInvalidCms(keys->OpenEnvelope(truncated.ToOpen(1)), EnvelopeCause::kUnwrap);
  }
  CHECK(SessionObjects(observer) == before);  // no CEK or stand-in key left behind
}

TEST_CASE("An unwrap failure takes about as long as a content failure",
          "[hsm][escrow_keys][envelope][timing]") {
  SoftHsmToken token;
  std::unique_ptr<KeyService> keys = OpenKeys(token);
  Result<EscrowKeyInfo> escrow = keys->GenerateCmsKey(1, kCmsKeyBits2048);
  REQUIRE(escrow.ok());
  const std::string content(4096, 'k');
  const testing::EnvelopePieces e =
      MakeEnvelope(escrow->public_key_der, kOaepSha1, ContentCipher::kAes256Cbc, content);
  testing::EnvelopePieces bad_key = e;
  bad_key.encrypted_key[10] ^= 1;
  testing::EnvelopePieces bad_content = e;
  bad_content.ciphertext[bad_content.ciphertext.size() - 17] ^= 1;
  const auto time = [&](const testing::EnvelopePieces& pieces, bool opens) {
    using Clock = std::chrono::steady_clock;
    std::chrono::nanoseconds best = std::chrono::hours(1);
    for (int i = 0; i < 20; ++i) {
      const auto start = Clock::now();
      const OpenedEnvelope opened = keys->OpenEnvelope(pieces.ToOpen(1));
      best = std::min(best, Clock::now() - start);
      CHECK(opened.content.ok() == opens);
    }
    return std::chrono::duration<double, std::micro>(best).count();
  };
  const double opened_us = time(e, true);
  const double unwrap_us = time(bad_key, false);
  const double decrypt_us = time(bad_content, false);
  WARN("OpenEnvelope (RSA-2048 OAEP-SHA1, AES-256-CBC, 4 KiB), best of 20: opened "
       << opened_us << " us, unwrap failure " << unwrap_us << " us, content failure "
       << decrypt_us << " us");
  // Loose bounds (a shared machine): the point is that an unwrap failure does not return
  // early, skipping the content decrypt.
  CHECK(unwrap_us > 0.5 * decrypt_us);
  CHECK(unwrap_us < 2.0 * decrypt_us);
}

}  // namespace
}  // namespace escrow::hsm
