#include "tests/fakes/fake_key_service.h"

#include <array>
#include <string>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "base/bytes.h"

namespace escrow::testing {
namespace {

constexpr std::size_t kKeyBytes = 32;
constexpr std::size_t kIvBytes = 12;
constexpr std::size_t kTagBytes = 16;

using Block = std::array<std::uint8_t, 32>;

// HMAC-SHA256 of the concatenated parts under `key`.
Block Hmac(const SecretBytes& key, std::initializer_list<std::span<const std::uint8_t>> parts) {
  Bytes input;
  for (const auto& part : parts) input.insert(input.end(), part.begin(), part.end());
  Block out{};
  unsigned int len = 0;
  const std::span<const std::uint8_t> k = key.RevealSecret();
  HMAC(EVP_sha256(), k.data(), static_cast<int>(k.size()), input.data(), input.size(), out.data(),
       &len);
  OPENSSL_cleanse(input.data(), input.size());
  return out;
}

std::span<const std::uint8_t> Text(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

Bytes BigEndian(std::uint64_t n) {
  Bytes out(8);
  for (int i = 7; i >= 0; --i) {
    out[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(n & 0xff);
    n >>= 8;
  }
  return out;
}

// XORs `in` with the keystream of (key, iv) into `out`.
void Crypt(const SecretBytes& key, std::span<const std::uint8_t> iv,
           std::span<const std::uint8_t> in, std::span<std::uint8_t> out) {
  for (std::size_t block = 0; block * 32 < in.size(); ++block) {
    Block ks = Hmac(key, {Text("keystream"), iv, BigEndian(block)});
    for (std::size_t i = block * 32; i < in.size() && i < (block + 1) * 32; ++i) {
      out[i] = static_cast<std::uint8_t>(in[i] ^ ks[i - block * 32]);
    }
    OPENSSL_cleanse(ks.data(), ks.size());
  }
}

Bytes Tag(const SecretBytes& key, std::span<const std::uint8_t> iv,
          std::span<const std::uint8_t> aad, std::span<const std::uint8_t> ciphertext) {
  const Block mac = Hmac(key, {Text("tag"), iv, BigEndian(aad.size()), aad, ciphertext});
  return Bytes(mac.begin(), mac.begin() + kTagBytes);
}

std::string Label(hsm::KeyRole role, std::uint32_t version) {
  std::string_view prefix = "escrow-master-v";
  if (role == hsm::KeyRole::kAudit) prefix = "escrow-audit-v";
  if (role == hsm::KeyRole::kFingerprint) prefix = "escrow-fingerprint-v";
  if (role == hsm::KeyRole::kState) prefix = "escrow-state-v";
  return std::string(prefix) + std::to_string(version);
}

}  // namespace

hsm::TokenInfo FakeKeyService::token() const {
  return hsm::TokenInfo{"fake-token", "0000000000000000", "escrow tests", "FakeKeyService"};
}

Result<const FakeKeyService::Key*> FakeKeyService::FindLocked(hsm::KeyRole role,
                                                              std::uint32_t version) const {
  auto it = keys_.find({role, version});
  if (it == keys_.end()) return Status::NotFound("no key labelled " + Label(role, version));
  return &it->second;
}

Result<hsm::KeyInfo> FakeKeyService::GenerateKey(hsm::KeyRole role, std::uint32_t version,
                                                 bool backup_capable) {
  std::lock_guard lock(mu_);
  if (keys_.contains({role, version})) {
    return Status::AlreadyExists("an object labelled " + Label(role, version) + " already exists");
  }
  SecretBytes secret(kKeyBytes);
  if (RAND_bytes(secret.mutable_span().data(), static_cast<int>(kKeyBytes)) != 1) {
    return Status::Unavailable("RAND_bytes failed");
  }
  const Block kcv = Hmac(secret, {Text("check value")});
  static constexpr char kHex[] = "0123456789abcdef";
  std::string check;
  for (std::size_t i = 0; i < 3; ++i) {
    check += kHex[kcv[i] >> 4];
    check += kHex[kcv[i] & 0xf];
  }
  hsm::KeyInfo info{role, version, Label(role, version), check, true, backup_capable};
  keys_.emplace(KeyId{role, version}, Key{info, std::move(secret)});
  return info;
}

Result<hsm::KeyInfo> FakeKeyService::FindKey(hsm::KeyRole role, std::uint32_t version) {
  std::lock_guard lock(mu_);
  ESCROW_ASSIGN_OR_RETURN(const Key* key, FindLocked(role, version));
  return key->info;
}

Result<std::vector<hsm::KeyInfo>> FakeKeyService::ListKeys() {
  std::lock_guard lock(mu_);
  std::vector<hsm::KeyInfo> out;
  for (const auto& [id, key] : keys_) out.push_back(key.info);
  return out;
}

Status FakeKeyService::DestroyKey(hsm::KeyRole role, std::uint32_t version) {
  std::lock_guard lock(mu_);
  if (keys_.erase({role, version}) == 0) {
    return Status::NotFound("no key labelled " + Label(role, version));
  }
  return Status::Ok();
}

Result<hsm::Sealed> FakeKeyService::Encrypt(std::uint32_t master_version,
                                            std::span<const std::uint8_t> plaintext,
                                            std::span<const std::uint8_t> aad) {
  std::lock_guard lock(mu_);
  ESCROW_ASSIGN_OR_RETURN(const Key* key, FindLocked(hsm::KeyRole::kMaster, master_version));
  hsm::Sealed sealed;
  sealed.iv.resize(kIvBytes);
  if (RAND_bytes(sealed.iv.data(), static_cast<int>(kIvBytes)) != 1) {
    return Status::Unavailable("RAND_bytes failed");
  }
  sealed.ciphertext.resize(plaintext.size());
  Crypt(key->secret, sealed.iv, plaintext, sealed.ciphertext);
  sealed.tag = Tag(key->secret, sealed.iv, aad, sealed.ciphertext);
  return sealed;
}

Result<SecretBytes> FakeKeyService::Decrypt(std::uint32_t master_version, const hsm::Sealed& sealed,
                                            std::span<const std::uint8_t> aad) {
  std::lock_guard lock(mu_);
  ESCROW_ASSIGN_OR_RETURN(const Key* key, FindLocked(hsm::KeyRole::kMaster, master_version));
  const Bytes tag = Tag(key->secret, sealed.iv, aad, sealed.ciphertext);
  if (sealed.iv.size() != kIvBytes || sealed.tag.size() != kTagBytes ||
      CRYPTO_memcmp(tag.data(), sealed.tag.data(), kTagBytes) != 0) {
    return Status::DataLoss("record failed its integrity check");
  }
  SecretBytes plain(sealed.ciphertext.size());
  Crypt(key->secret, sealed.iv, sealed.ciphertext, plain.mutable_span());
  return plain;
}

Result<hsm::Mac> FakeKeyService::Sign(hsm::KeyRole role, std::uint32_t version,
                                      std::span<const std::uint8_t> data) {
  if (role == hsm::KeyRole::kMaster) return Status::InvalidArgument("the master key never MACs");
  std::lock_guard lock(mu_);
  ESCROW_ASSIGN_OR_RETURN(const Key* key, FindLocked(role, version));
  return Hmac(key->secret, {data});
}

Status FakeKeyService::Verify(hsm::KeyRole role, std::uint32_t version,
                              std::span<const std::uint8_t> data,
                              std::span<const std::uint8_t> mac) {
  if (role == hsm::KeyRole::kMaster) return Status::InvalidArgument("the master key never MACs");
  std::lock_guard lock(mu_);
  ESCROW_ASSIGN_OR_RETURN(const Key* key, FindLocked(role, version));
  const Block expected = Hmac(key->secret, {data});
  if (mac.size() != expected.size() ||
      CRYPTO_memcmp(mac.data(), expected.data(), expected.size()) != 0) {
    return Status::DataLoss("MAC does not verify");
  }
  return Status::Ok();
}

Result<std::optional<Bytes>> FakeKeyService::ReadCheckpoint() {
  std::lock_guard lock(mu_);
  return checkpoint_;
}

Status FakeKeyService::WriteCheckpoint(std::span<const std::uint8_t> value) {
  if (value.size() > hsm::kMaxCheckpointBytes) {
    return Status::InvalidArgument("checkpoint value too long");
  }
  std::lock_guard lock(mu_);
  checkpoint_ = Bytes(value.begin(), value.end());
  return Status::Ok();
}

// One node: the unnamed one.
Result<std::vector<hsm::NodeCheckpointValue>> FakeKeyService::ReadEveryCheckpoint() {
  std::lock_guard lock(mu_);
  if (!checkpoint_) return std::vector<hsm::NodeCheckpointValue>{};
  return std::vector<hsm::NodeCheckpointValue>{{"", checkpoint_}};
}

Status FakeKeyService::ForgetOtherCheckpoints() { return Status::Ok(); }

Status FakeKeyService::Probe(std::uint32_t master_version) {
  std::lock_guard lock(mu_);
  return FindLocked(hsm::KeyRole::kMaster, master_version).status();
}

Result<hsm::EscrowKeyInfo> FakeKeyService::GenerateCmsKey(std::uint32_t version,
                                                          std::uint32_t rsa_bits) {
  if (rsa_bits != hsm::kCmsKeyBits2048 && rsa_bits != hsm::kCmsKeyBits3072) {
    return Status::InvalidArgument("an escrow key has 2048 or 3072 bits");
  }
  std::lock_guard lock(mu_);
  return escrow_.Generate(hsm::EscrowKeyKind::kCms, version, rsa_bits);
}

Result<hsm::EscrowKeyInfo> FakeKeyService::GenerateSigningKey(hsm::EscrowKeyKind kind,
                                                              std::uint32_t version) {
  if (!hsm::IsSigningKind(kind)) return Status::InvalidArgument("not a signing key kind");
  std::lock_guard lock(mu_);
  return escrow_.Generate(kind, version, 256);
}

Result<hsm::EscrowKeyInfo> FakeKeyService::FindEscrowKey(hsm::EscrowKeyKind kind,
                                                         std::uint32_t version) {
  std::lock_guard lock(mu_);
  return escrow_.Find(kind, version);
}

Result<std::vector<hsm::EscrowKeyInfo>> FakeKeyService::ListEscrowKeys() {
  std::lock_guard lock(mu_);
  return escrow_.List();
}

Status FakeKeyService::DestroyEscrowKey(hsm::EscrowKeyKind kind, std::uint32_t version) {
  std::lock_guard lock(mu_);
  return escrow_.Destroy(kind, version);
}

Result<Bytes> FakeKeyService::EcdsaSign(hsm::EscrowKeyKind kind, std::uint32_t version,
                                        std::span<const std::uint8_t> data) {
  std::lock_guard lock(mu_);
  return escrow_.EcdsaSign(kind, version, data);
}

hsm::OpenedEnvelope FakeKeyService::OpenEnvelope(const hsm::EnvelopeToOpen& envelope) {
  std::lock_guard lock(mu_);
  return escrow_.Open(envelope);
}

}  // namespace escrow::testing
