#pragma once

#include <functional>
#include <map>
#include <mutex>

#include "hsm/key_service.h"

namespace escrow::testing {

// The operations a FailingKeyService can fail, one per KeyService method.
enum class KeyOp {
  kGenerate,
  kFind,
  kList,
  kDestroy,
  kEncrypt,
  kDecrypt,
  kSign,
  kVerify,
  kProbe,
  kReadCheckpoint,
  kWriteCheckpoint,
  kGenerateEscrowKey,  // GenerateCmsKey and GenerateSigningKey
  kFindEscrowKey,
  kListEscrowKeys,
  kDestroyEscrowKey,
  kEcdsaSign,
  kOpenEnvelope,  // answers the injected Status with cause kHsmUnavailable
};

// Wraps a real or fake KeyService and fails the chosen operations with a chosen Status (an HSM
// that is lost, or a MAC that cannot be made), so that fail-closed paths are proven in unit
// tests. Thread-safe.
class FailingKeyService final : public hsm::KeyService {
 public:
  explicit FailingKeyService(hsm::KeyService& inner) : inner_(inner) {}
  FailingKeyService(const FailingKeyService&) = delete;  // the failures are this one's
  FailingKeyService& operator=(const FailingKeyService&) = delete;

  // From now on `op` answers `status` without reaching the inner service.
  // REQUIRES: !status.ok().
  void FailOn(KeyOp op, Status status);
  void Heal(KeyOp op);
  // The next attempt of `op` first runs `hook` (once, on the caller's thread, without this
  // service's lock): what another node does between a request's read and its commit.
  void RunBefore(KeyOp op, std::function<void()> hook);
  // How often `op` was attempted, failed attempts included.
  int calls(KeyOp op) const;

  hsm::TokenInfo token() const override { return inner_.token(); }
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
  Status Probe(std::uint32_t master_version) override;
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
  // Counts the attempt; the injected failure of `op`, if any, else OK.
  Status Attempt(KeyOp op);

  hsm::KeyService& inner_;
  mutable std::mutex mu_;
  std::map<KeyOp, Status> failures_;  // guarded by mu_
  std::map<KeyOp, int> calls_;        // guarded by mu_
  std::map<KeyOp, std::function<void()>> hooks_;  // guarded by mu_
};

}  // namespace escrow::testing
