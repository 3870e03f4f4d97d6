#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <utility>

#include "hsm/key_service.h"
#include "tests/fakes/fake_escrow_keys.h"

namespace escrow::testing {

// An in-memory hsm::KeyService for unit tests: keys are random bytes held in SecretBytes, a
// seal is an encrypt-then-MAC construction on HMAC-SHA256 (a keystream and a 128-bit tag over
// IV, associated data and ciphertext), MACs are HMAC-SHA256, and the checkpoint is a member. Same
// Status contract as the token's: kAlreadyExists, kNotFound for an absent key, kDataLoss for a
// record or MAC that fails its check. Not an HSM and no protection at all: tests only. Thread-safe.
class FakeKeyService final : public hsm::KeyService {
 public:
  FakeKeyService() = default;
  FakeKeyService(const FakeKeyService&) = delete;  // holds key material
  FakeKeyService& operator=(const FakeKeyService&) = delete;

  hsm::TokenInfo token() const override;
  Result<hsm::KeyInfo> GenerateKey(hsm::KeyRole role, std::uint32_t version,
                                   bool backup_capable) override;
  Result<hsm::KeyInfo> FindKey(hsm::KeyRole role, std::uint32_t version) override;
  Result<std::vector<hsm::KeyInfo>> ListKeys() override;
  Status DestroyKey(hsm::KeyRole role, std::uint32_t version) override;
  Result<hsm::Sealed> Encrypt(std::uint32_t master_version, std::span<const std::uint8_t> plaintext,
                              std::span<const std::uint8_t> aad) override;
  Result<SecretBytes> Decrypt(std::uint32_t master_version, const hsm::Sealed& sealed,
                              std::span<const std::uint8_t> aad) override;
  Result<hsm::Mac> Sign(hsm::KeyRole role, std::uint32_t version,
                        std::span<const std::uint8_t> data) override;
  Status Verify(hsm::KeyRole role, std::uint32_t version, std::span<const std::uint8_t> data,
                std::span<const std::uint8_t> mac) override;
  Result<std::optional<Bytes>> ReadCheckpoint() override;
  Status WriteCheckpoint(std::span<const std::uint8_t> value) override;
  Result<std::vector<hsm::NodeCheckpointValue>> ReadEveryCheckpoint() override;
  Status ForgetOtherCheckpoints() override;
  // OK if the master key exists (the fake computes correctly); kNotFound if not.
  Status Probe(std::uint32_t master_version) override;
  // Escrow keys in software (FakeEscrowKeys).
  Result<hsm::EscrowKeyInfo> GenerateCmsKey(std::uint32_t version, std::uint32_t rsa_bits) override;
  Result<hsm::EscrowKeyInfo> GenerateSigningKey(hsm::EscrowKeyKind kind,
                                                std::uint32_t version) override;
  Result<hsm::EscrowKeyInfo> FindEscrowKey(hsm::EscrowKeyKind kind, std::uint32_t version) override;
  Result<std::vector<hsm::EscrowKeyInfo>> ListEscrowKeys() override;
  Status DestroyEscrowKey(hsm::EscrowKeyKind kind, std::uint32_t version) override;
  Result<Bytes> EcdsaSign(hsm::EscrowKeyKind kind, std::uint32_t version,
                          std::span<const std::uint8_t> data) override;
  hsm::OpenedEnvelope OpenEnvelope(const hsm::EnvelopeToOpen& envelope) override;

 private:
  struct Key {
    hsm::KeyInfo info;
    SecretBytes secret;
  };
  using KeyId = std::pair<hsm::KeyRole, std::uint32_t>;

  // REQUIRES: mu_ held. kNotFound if absent.
  Result<const Key*> FindLocked(hsm::KeyRole role, std::uint32_t version) const;

  mutable std::mutex mu_;
  std::map<KeyId, Key> keys_;        // guarded by mu_
  std::optional<Bytes> checkpoint_;  // guarded by mu_
  FakeEscrowKeys escrow_;            // guarded by mu_
};

}  // namespace escrow::testing
