#pragma once

#include <span>

#include "base/bytes.h"
#include "base/result.h"
#include "vault/audit_chain.h"

namespace escrow::hsm {
class KeyService;
}
namespace escrow::storage {
class Store;
}

namespace escrow::vault {

// The newest audit checkpoint, kept on the token as a data object (DESIGN.md): updated after
// each committed group that releases a key, before the release, so that an older copy of the
// whole database restored behind the vault's back is caught at start. Its value:
//   "escrow-ckpt" | u8 1 | u64be seq | 32-byte hash
Bytes EncodeCheckpoint(const AuditHead& head);
// kDataLoss if `value` is not one of ours.
Result<AuditHead> DecodeCheckpoint(std::span<const std::uint8_t> value);

// What vaultd's start found.
struct StartHead {
  AuditHead head;                   // the chain's, as loaded
  std::optional<AuditHead> kept;    // the newest of the nodes' checkpoints, if there is one
  bool token_keeps_checkpoints = true;  // false: the module keeps no data objects
};

// Checks the loaded chain (`head`, as CommitPipeline::Start found it) against every node's
// checkpoint on the token: kDataLoss if the chain is empty, shorter than a checkpoint, or holds
// another record at a checkpoint's sequence, or if a node's checkpoint is damaged. A module without data objects passes with
// token_keeps_checkpoints = false (the caller says that rollback is not detected on it).
Result<StartHead> CheckStartHead(hsm::KeyService& keys, storage::Store& store,
                                 const AuditHead& head);

// Writes `head` as the token's checkpoint.
Status KeepCheckpoint(hsm::KeyService& keys, const AuditHead& head);

}  // namespace escrow::vault
