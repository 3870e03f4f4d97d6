#include "vault/audit_checkpoint.h"

#include <algorithm>
#include <optional>
#include <string>

#include "hsm/key_service.h"
#include "storage/store.h"

namespace escrow::vault {
namespace {

constexpr std::string_view kDomain = "escrow-ckpt";
constexpr std::size_t kHashBytes = 32;

Status Refused(const std::string& what) {
  return Status::DataLoss("audit: " + what +
                          "; if a database was restored from backup on purpose, accept its head "
                          "with vaultctl audit accept-head");
}

}  // namespace

Bytes EncodeCheckpoint(const AuditHead& head) {
  Bytes out;
  Append(out, kDomain);
  AppendU8(out, 1);
  AppendU64Be(out, head.seq);
  const std::optional<Bytes> hash = HexDecode(head.hash);
  Append(out, hash && hash->size() == kHashBytes ? *hash : Bytes(kHashBytes, 0));
  return out;
}

Result<AuditHead> DecodeCheckpoint(std::span<const std::uint8_t> value) {
  const std::size_t size = kDomain.size() + 1 + 8 + kHashBytes;
  if (value.size() != size || !std::equal(kDomain.begin(), kDomain.end(), value.begin()) ||
      value[kDomain.size()] != 1) {
    return Status::DataLoss("the token's audit checkpoint is not one of ours");
  }
  AuditHead head;
  for (std::size_t i = 0; i < 8; ++i) head.seq = (head.seq << 8) | value[kDomain.size() + 1 + i];
  head.hash = HexEncode(value.subspan(kDomain.size() + 1 + 8));
  return head;
}

Result<StartHead> CheckStartHead(hsm::KeyService& keys, storage::Store& store,
                                 const AuditHead& head) {
  StartHead out;
  out.head = head;
  if (head.seq == 0) return Refused("the audit trail is empty (a vault's starts with its init)");
  // Every node's checkpoint, not only this one's: a node that never released a key, or a new
  // one, still catches a database older than what any node kept.
  Result<std::vector<hsm::NodeCheckpointValue>> kept = keys.ReadEveryCheckpoint();
  if (!kept.ok()) {
    if (kept.status().code() == Code::kFailedPrecondition &&
        kept.status().reason() == hsm::kNoDataObjects) {
      out.token_keeps_checkpoints = false;
      return out;
    }
    return kept.status();
  }
  // None written yet: no key was released since the token had one.
  for (const hsm::NodeCheckpointValue& node : *kept) {
    const std::string whose =
        node.node.empty() ? std::string("the token's checkpoint")
                          : "node " + node.node + "'s checkpoint on the token";
    if (!node.value) {
      return Status::DataLoss("audit: " + whose +
                              " does not decode (damaged); remove its objects to go on");
    }
    ESCROW_ASSIGN_OR_RETURN(const AuditHead checkpoint, DecodeCheckpoint(*node.value));
    if (head.seq < checkpoint.seq) {
      return Refused("the audit trail ends at record " + std::to_string(head.seq) +
                     ", before " + whose + " " + std::to_string(checkpoint.seq) +
                     " (an older copy of the database?)");
    }
    ESCROW_ASSIGN_OR_RETURN(std::optional<storage::AuditRow> row,
                            storage::ReadValue(store, [&](storage::ReadTxn& txn) {
                              return txn.audit().Get(checkpoint.seq);
                            }));
    if (!row || HexEncode(row->hash) != checkpoint.hash) {
      return Refused("audit record " + std::to_string(checkpoint.seq) + " is not the one " +
                     whose + " names");
    }
    if (!out.kept || out.kept->seq < checkpoint.seq) out.kept = checkpoint;
  }
  return out;
}

Status KeepCheckpoint(hsm::KeyService& keys, const AuditHead& head) {
  return keys.WriteCheckpoint(EncodeCheckpoint(head));
}

}  // namespace escrow::vault
