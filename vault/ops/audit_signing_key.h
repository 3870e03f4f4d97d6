#pragma once

// `vaultctl audit-signing-key create` (API.md, "HSM modules and signed audit checkpoints"): the
// next escrow-audit-sign-v<N> in the HSM (ECDSA P-256, sign only, never extractable), its
// public key recorded in the database in the transaction of its audit record
// (`ceremony.audit_signing_key.create`). From then on vaultd signs checkpoints with the newest
// recorded version (within vault::kSigningKeyRecheck). Versions are never reused: a key left on
// the token by a run that did not record it stays unused.

#include <cstdint>
#include <string>

#include "base/result.h"
#include "vault/audit_chain.h"
#include "vault/ops/vault_access.h"

namespace escrow::ops {

struct AuditSigningKeyReport {
  std::uint32_t version = 0;
  std::string label;           // escrow-audit-sign-v<version>
  std::string public_key_pem;  // SubjectPublicKeyInfo, PEM
  std::string sha256;          // of the DER SubjectPublicKeyInfo, lowercase hex
  vault::AuditHead head;       // after the ceremony's record
};

// REQUIRES: vault.audit started. The Status of the HSM or of the audited commit.
Result<AuditSigningKeyReport> CreateAuditSigningKey(const Vault& vault);

// The transcript vaultctl prints: label, version, fingerprint, the PEM, the audit head.
std::string RenderAuditSigningKey(const AuditSigningKeyReport& report);

}  // namespace escrow::ops
