#include "tests/fakes/fake_escrow_keys.h"

#include <openssl/rsa.h>

namespace escrow::testing {
namespace {

hsm::OpenedEnvelope Failed(hsm::EnvelopeCause cause) {
  return {hsm::EnvelopeFailure(cause), cause};
}

const EVP_CIPHER* CipherOf(hsm::ContentCipher cipher) {
  switch (cipher) {
    case hsm::ContentCipher::kAes128Cbc:
      return EVP_aes_128_cbc();
    case hsm::ContentCipher::kAes192Cbc:
      return EVP_aes_192_cbc();
    case hsm::ContentCipher::kAes256Cbc:
      return EVP_aes_256_cbc();
    case hsm::ContentCipher::kDesEde3Cbc:
      return EVP_des_ede3_cbc();
  }
  return nullptr;
}

}  // namespace

Result<hsm::EscrowKeyInfo> FakeEscrowKeys::Generate(hsm::EscrowKeyKind kind,
                                                    std::uint32_t version, std::uint32_t bits) {
  const Id id{kind, version};
  if (keys_.count(id) != 0) {
    return Status::AlreadyExists("an object labelled " + hsm::EscrowKeyLabel(kind, version) +
                                 " already exists");
  }
  SslPtr<EVP_PKEY> pkey(kind == hsm::EscrowKeyKind::kCms
                            ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", std::size_t{bits})
                            : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!pkey) return Status::Internal("key generation failed");
  Key key;
  key.info.kind = kind;
  key.info.version = version;
  key.info.label = hsm::EscrowKeyLabel(kind, version);
  key.info.bits = static_cast<std::uint32_t>(EVP_PKEY_get_bits(pkey.get()));
  const int len = i2d_PUBKEY(pkey.get(), nullptr);
  if (len <= 0) return Status::Internal("i2d_PUBKEY failed");
  key.info.public_key_der.resize(static_cast<std::size_t>(len));
  unsigned char* out = key.info.public_key_der.data();
  (void)i2d_PUBKEY(pkey.get(), &out);
  key.pkey = std::move(pkey);
  hsm::EscrowKeyInfo info = key.info;
  keys_.emplace(id, std::move(key));
  return info;
}

Result<hsm::EscrowKeyInfo> FakeEscrowKeys::Find(hsm::EscrowKeyKind kind,
                                                std::uint32_t version) const {
  auto it = keys_.find({kind, version});
  if (it == keys_.end()) {
    return Status::NotFound("no key " + hsm::EscrowKeyLabel(kind, version) + " on the token");
  }
  return it->second.info;
}

std::vector<hsm::EscrowKeyInfo> FakeEscrowKeys::List() const {
  std::vector<hsm::EscrowKeyInfo> out;
  for (const auto& [id, key] : keys_) out.push_back(key.info);
  return out;
}

Status FakeEscrowKeys::Destroy(hsm::EscrowKeyKind kind, std::uint32_t version) {
  if (keys_.erase({kind, version}) == 0) {
    return Status::NotFound("no key " + hsm::EscrowKeyLabel(kind, version) + " on the token");
  }
  return Status::Ok();
}

Result<Bytes> FakeEscrowKeys::EcdsaSign(hsm::EscrowKeyKind kind, std::uint32_t version,
                                        std::span<const std::uint8_t> data) const {
  if (!hsm::IsSigningKind(kind)) return Status::InvalidArgument("not a signing key kind");
  auto it = keys_.find({kind, version});
  if (it == keys_.end()) return Status::NotFound("no key " + hsm::EscrowKeyLabel(kind, version));
  SslPtr<EVP_MD_CTX> ctx(EVP_MD_CTX_new());
  std::size_t len = 0;
  if (!ctx ||
      EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, it->second.pkey.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, data.data(), data.size()) != 1) {
    return Status::Internal("EVP_DigestSign failed");
  }
  Bytes sig(len);
  if (EVP_DigestSign(ctx.get(), sig.data(), &len, data.data(), data.size()) != 1) {
    return Status::Internal("EVP_DigestSign failed");
  }
  sig.resize(len);
  return sig;
}

hsm::OpenedEnvelope FakeEscrowKeys::Open(const hsm::EnvelopeToOpen& envelope) const {
  const std::size_t block = hsm::ContentBlockBytes(envelope.cipher);
  if (envelope.iv.size() != block || envelope.ciphertext.empty() ||
      envelope.ciphertext.size() % block != 0 || envelope.encrypted_key.empty()) {
    return Failed(hsm::EnvelopeCause::kMalformed);
  }
  const hsm::KeyTransportAlgorithm& kt = envelope.key_transport;
  if (kt.scheme == hsm::KeyTransport::kRsaOaep &&
      (kt.oaep_hash != hsm::OaepDigest::kSha1 || kt.mgf1_hash != hsm::OaepDigest::kSha1)) {
    return Failed(hsm::EnvelopeCause::kMechanismUnsupported);
  }
  auto it = keys_.find({hsm::EscrowKeyKind::kCms, envelope.escrow_key_version});
  if (it == keys_.end()) return Failed(hsm::EnvelopeCause::kNoSuchKey);
  SslPtr<EVP_PKEY_CTX> pctx(EVP_PKEY_CTX_new(it->second.pkey.get(), nullptr));
  SecretBytes cek(EVP_PKEY_get_size(it->second.pkey.get()) > 0
                      ? static_cast<std::size_t>(EVP_PKEY_get_size(it->second.pkey.get()))
                      : 1);
  std::size_t cek_len = cek.size();
  const int padding =
      kt.scheme == hsm::KeyTransport::kRsaOaep ? RSA_PKCS1_OAEP_PADDING : RSA_PKCS1_PADDING;
  if (!pctx || EVP_PKEY_decrypt_init(pctx.get()) != 1 ||
      EVP_PKEY_CTX_set_rsa_padding(pctx.get(), padding) != 1 ||
      EVP_PKEY_decrypt(pctx.get(), cek.mutable_span().data(), &cek_len,
                       envelope.encrypted_key.data(), envelope.encrypted_key.size()) != 1 ||
      cek_len != hsm::ContentKeyBytes(envelope.cipher)) {
    return Failed(hsm::EnvelopeCause::kUnwrap);
  }
  SslPtr<EVP_CIPHER_CTX> cctx(EVP_CIPHER_CTX_new());
  SecretBytes plain(envelope.ciphertext.size() + block);
  int n1 = 0;
  int n2 = 0;
  if (!cctx ||
      EVP_DecryptInit_ex(cctx.get(), CipherOf(envelope.cipher), nullptr,
                         cek.RevealSecret().data(), envelope.iv.data()) != 1 ||
      EVP_DecryptUpdate(cctx.get(), plain.mutable_span().data(), &n1, envelope.ciphertext.data(),
                        static_cast<int>(envelope.ciphertext.size())) != 1 ||
      EVP_DecryptFinal_ex(cctx.get(), plain.mutable_span().data() + n1, &n2) != 1) {
    return Failed(hsm::EnvelopeCause::kDecrypt);
  }
  plain.Truncate(static_cast<std::size_t>(n1) + static_cast<std::size_t>(n2));
  return {std::move(plain), hsm::EnvelopeCause::kNone};
}

}  // namespace escrow::testing
