#include "tests/fakes/failing_key_service.h"

#include "base/check.h"

namespace escrow::testing {

void FailingKeyService::FailOn(KeyOp op, Status status) {
  ESCROW_CHECK(!status.ok());
  std::lock_guard lock(mu_);
  failures_[op] = std::move(status);
}

void FailingKeyService::Heal(KeyOp op) {
  std::lock_guard lock(mu_);
  failures_.erase(op);
}

int FailingKeyService::calls(KeyOp op) const {
  std::lock_guard lock(mu_);
  auto it = calls_.find(op);
  return it == calls_.end() ? 0 : it->second;
}

void FailingKeyService::RunBefore(KeyOp op, std::function<void()> hook) {
  std::lock_guard lock(mu_);
  hooks_[op] = std::move(hook);
}

Status FailingKeyService::Attempt(KeyOp op) {
  std::function<void()> hook;
  {
    std::lock_guard lock(mu_);
    auto it = hooks_.find(op);
    if (it != hooks_.end()) {
      hook = std::move(it->second);
      hooks_.erase(it);
    }
  }
  if (hook) hook();
  std::lock_guard lock(mu_);
  ++calls_[op];
  auto it = failures_.find(op);
  return it == failures_.end() ? Status::Ok() : it->second;
}

Result<hsm::KeyInfo> FailingKeyService::GenerateKey(hsm::KeyRole role, std::uint32_t version,
                                                    bool backup_capable) {
  ESCROW_RETURN_IF_ERROR(Attempt(KeyOp::kGenerate));
  return inner_.GenerateKey(role, version, backup_capable);
}

Result<hsm::KeyInfo> FailingKeyService::FindKey(hsm::KeyRole role, std::uint32_t version) {
  ESCROW_RETURN_IF_ERROR(Attempt(KeyOp::kFind));
  return inner_.FindKey(role, version);
}

Result<std::vector<hsm::KeyInfo>> FailingKeyService::ListKeys() {
  ESCROW_RETURN_IF_ERROR(Attempt(KeyOp::kList));
  return inner_.ListKeys();
}

Status FailingKeyService::DestroyKey(hsm::KeyRole role, std::uint32_t version) {
  ESCROW_RETURN_IF_ERROR(Attempt(KeyOp::kDestroy));
  return inner_.DestroyKey(role, version);
}

Result<hsm::Sealed> FailingKeyService::Encrypt(std::uint32_t master_version,
                                               std::span<const std::uint8_t> plaintext,
                                               std::span<const std::uint8_t> aad) {
  ESCROW_RETURN_IF_ERROR(Attempt(KeyOp::kEncrypt));
  return inner_.Encrypt(master_version, plaintext, aad);
}

Result<SecretBytes> FailingKeyService::Decrypt(std::uint32_t master_version,
                                               const hsm::Sealed& sealed,
                                               std::span<const std::uint8_t> aad) {
  ESCROW_RETURN_IF_ERROR(Attempt(KeyOp::kDecrypt));
  return inner_.Decrypt(master_version, sealed, aad);
}

Result<hsm::Mac> FailingKeyService::Sign(hsm::KeyRole role, std::uint32_t version,
                                         std::span<const std::uint8_t> data) {
  ESCROW_RETURN_IF_ERROR(Attempt(KeyOp::kSign));
  return inner_.Sign(role, version, data);
}

Status FailingKeyService::Verify(hsm::KeyRole role, std::uint32_t version,
                                 std::span<const std::uint8_t> data,
                                 std::span<const std::uint8_t> mac) {
  ESCROW_RETURN_IF_ERROR(Attempt(KeyOp::kVerify));
  return inner_.Verify(role, version, data, mac);
}

Result<std::optional<Bytes>> FailingKeyService::ReadCheckpoint() {
  ESCROW_RETURN_IF_ERROR(Attempt(KeyOp::kReadCheckpoint));
  return inner_.ReadCheckpoint();
}

Status FailingKeyService::WriteCheckpoint(std::span<const std::uint8_t> value) {
  ESCROW_RETURN_IF_ERROR(Attempt(KeyOp::kWriteCheckpoint));
  return inner_.WriteCheckpoint(value);
}

Result<std::vector<hsm::NodeCheckpointValue>> FailingKeyService::ReadEveryCheckpoint() {
  ESCROW_RETURN_IF_ERROR(Attempt(KeyOp::kReadCheckpoint));
  return inner_.ReadEveryCheckpoint();
}

Status FailingKeyService::ForgetOtherCheckpoints() {
  ESCROW_RETURN_IF_ERROR(Attempt(KeyOp::kWriteCheckpoint));
  return inner_.ForgetOtherCheckpoints();
}

Status FailingKeyService::Probe(std::uint32_t master_version) {
  ESCROW_RETURN_IF_ERROR(Attempt(KeyOp::kProbe));
  return inner_.Probe(master_version);
}

Result<hsm::EscrowKeyInfo> FailingKeyService::GenerateCmsKey(std::uint32_t version,
                                                             std::uint32_t rsa_bits) {
  ESCROW_RETURN_IF_ERROR(Attempt(KeyOp::kGenerateEscrowKey));
  return inner_.GenerateCmsKey(version, rsa_bits);
}

Result<hsm::EscrowKeyInfo> FailingKeyService::GenerateSigningKey(hsm::EscrowKeyKind kind,
                                                                 std::uint32_t version) {
  ESCROW_RETURN_IF_ERROR(Attempt(KeyOp::kGenerateEscrowKey));
  return inner_.GenerateSigningKey(kind, version);
}

Result<hsm::EscrowKeyInfo> FailingKeyService::FindEscrowKey(hsm::EscrowKeyKind kind,
                                                            std::uint32_t version) {
  ESCROW_RETURN_IF_ERROR(Attempt(KeyOp::kFindEscrowKey));
  return inner_.FindEscrowKey(kind, version);
}

Result<std::vector<hsm::EscrowKeyInfo>> FailingKeyService::ListEscrowKeys() {
  ESCROW_RETURN_IF_ERROR(Attempt(KeyOp::kListEscrowKeys));
  return inner_.ListEscrowKeys();
}

Status FailingKeyService::DestroyEscrowKey(hsm::EscrowKeyKind kind, std::uint32_t version) {
  ESCROW_RETURN_IF_ERROR(Attempt(KeyOp::kDestroyEscrowKey));
  return inner_.DestroyEscrowKey(kind, version);
}

Result<Bytes> FailingKeyService::EcdsaSign(hsm::EscrowKeyKind kind, std::uint32_t version,
                                           std::span<const std::uint8_t> data) {
  ESCROW_RETURN_IF_ERROR(Attempt(KeyOp::kEcdsaSign));
  return inner_.EcdsaSign(kind, version, data);
}

hsm::OpenedEnvelope FailingKeyService::OpenEnvelope(const hsm::EnvelopeToOpen& envelope) {
  if (Status s = Attempt(KeyOp::kOpenEnvelope); !s.ok()) {
    return {std::move(s), hsm::EnvelopeCause::kHsmUnavailable};
  }
  return inner_.OpenEnvelope(envelope);
}

}  // namespace escrow::testing
