#pragma once

// Signed audit checkpoints (API.md, "HSM modules and signed audit checkpoints"; DESIGN.md,
// "Signed checkpoints"): the one home of the signed bytes, of the check an outsider runs with
// the public key alone, and of the signer the commit pipeline calls inside each group's
// transaction.

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "base/bytes.h"
#include "base/result.h"
#include "storage/audit_checkpoints.h"

namespace escrow::hsm {
class KeyService;
}
namespace escrow::storage {
class WriteTxn;
struct AuditRow;
}  // namespace escrow::storage

namespace escrow::vault {

// "escrow-checkpoint" (ASCII, no terminator) | u8 1 | u64be seq | 32-byte hash | u64be at_ms.
// REQUIRES: hash has 32 bytes.
Bytes CheckpointMessage(std::uint64_t seq, std::span<const std::uint8_t> hash, std::int64_t at_ms);

// A SubjectPublicKeyInfo (DER) as PEM ("-----BEGIN PUBLIC KEY-----" ...), and back. The PEM
// must hold an EC P-256 public key (kInvalidArgument otherwise).
Result<std::string> PublicKeyPem(std::span<const std::uint8_t> spki_der);
Result<Bytes> PublicKeyFromPem(std::string_view pem);

// OK if `signature` (ECDSA-Sig-Value, DER) over SHA-256 of CheckpointMessage(seq, hash, at_ms)
// verifies under the P-256 key `spki_der`; kDataLoss if it does not; kInvalidArgument for a
// key that is not P-256 or a hash that is not 32 bytes.
Status VerifyCheckpointSignature(std::span<const std::uint8_t> spki_der,
                                 const storage::AuditCheckpointRow& checkpoint);

// How often vaultd looks for a newer signing key recorded by `vaultctl audit-signing-key
// create` (and for one at all), and how often at most it signs a checkpoint.
inline constexpr std::chrono::milliseconds kSigningKeyRecheck{10'000};
inline constexpr std::int64_t kCheckpointSignIntervalMs = 1'000;

// Signs committed groups' heads with the newest recorded escrow-audit-sign-v<N>. Used by the
// commit pipeline's leader only, one group at a time: not thread-safe.
class CheckpointSigner {
 public:
  explicit CheckpointSigner(hsm::KeyService& keys,
                            std::chrono::milliseconds recheck = kSigningKeyRecheck)
      : keys_(keys), recheck_ms_(recheck.count()) {}

  // Inside the group's transaction, after its records: at most every recheck interval (by the
  // head's time), reads the newest recorded signing key; if there is one and no checkpoint was
  // signed in the last kCheckpointSignIntervalMs, signs `head` in the HSM and appends the
  // checkpoint in a savepoint, so that it exists exactly when the group commits. A failure of
  // the HSM to sign, or of the row, is logged and the checkpoint skipped (OK): the group's MAC
  // already proves the records to the vault itself, and a signature is an extra for outsiders
  // that must not stop key storage and release. Only a transaction that cannot go on (the read
  // of the keys failed) answers its Status.
  Status SignIn(storage::WriteTxn& txn, const storage::AuditRow& head);

  // The key version that signs now (0: none known yet).
  std::uint32_t key_version() const { return key_version_; }

 private:
  hsm::KeyService& keys_;
  const std::int64_t recheck_ms_;
  std::uint32_t key_version_ = 0;
  std::optional<std::int64_t> next_check_ms_;   // none: look now
  std::optional<std::int64_t> last_signed_ms_;  // none: nothing signed yet
};

}  // namespace escrow::vault
