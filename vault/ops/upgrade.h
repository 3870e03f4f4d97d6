#pragma once

// `vaultctl upgrade`: brings a vault of the first release to this one (API.md, "Vault keys and
// upgrades"). Creates the keys the release needs that the token lacks (escrow-fingerprint-v1,
// escrow-state-v1, under the master key's extractability rule), fingerprints every key version
// that has no fingerprint (decrypt and HMAC, both in the HSM), gives every device without one
// its state record, and writes the keys' versions, all audited in one `ceremony.upgrade`
// record whose transaction also holds the state records. Run with vaultd stopped; running it
// again does only what is still missing (nothing, on an upgraded vault).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "hsm/key_service.h"
#include "vault/commit_pipeline.h"
#include "vault/ops/escrow_cert.h"
#include "vault/ops/vault_access.h"

namespace escrow::ops {

struct UpgradeReport {
  std::vector<hsm::KeyInfo> created;  // keys generated now
  std::uint32_t fingerprint_key_version = 0;
  std::uint32_t state_key_version = 0;
  std::uint64_t fingerprinted = 0;  // versions fingerprinted now
  std::uint64_t states = 0;         // state records written now
  // The escrow CA and first escrow certificate, when the vault had none (Apple MDM escrow).
  std::optional<EscrowCertReport> escrow_certificate;
  vault::AuditHead head;            // after the ceremony's record
};

// REQUIRES: vault.audit started.
Result<UpgradeReport> Upgrade(const Vault& vault);

// The transcript vaultctl prints.
std::string RenderUpgrade(const UpgradeReport& report);

}  // namespace escrow::ops
