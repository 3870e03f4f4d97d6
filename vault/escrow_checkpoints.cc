// EscrowService: signed audit checkpoints (API.md, "HSM modules and signed audit
// checkpoints"). The checkpoints themselves are signed and written by the commit pipeline in
// each group's transaction (signed_checkpoint.h); here is their reading,
// GET /v1/audit/checkpoints.

#include "vault/escrow_service.h"
#include "vault/escrow_service_impl.h"
#include "vault/signed_checkpoint.h"

namespace escrow::vault {

Result<CheckpointPage> EscrowService::ListCheckpoints(const Caller& caller, std::uint64_t after,
                                                      std::size_t limit) {
  Impl& m = *impl_;
  const Decision d = Decide(caller, Action::kReadAudit, nullptr);
  if (!d.allowed) return m.Deny(caller, Action::kReadAudit, {}, d.denial);
  if (limit == 0 || limit > kMaxCheckpointPageLimit) {
    return m.Deny(caller, Action::kReadAudit, {},
                  Status::InvalidArgument("limit must be 1 to 1000.", "invalid_request"));
  }
  std::vector<storage::AuditCheckpointRow> rows;
  std::vector<storage::AuditSigningKeyRow> keys;
  // One snapshot: every checkpoint's key is among the keys read with it.
  ESCROW_RETURN_IF_ERROR(m.store.Read([&](storage::ReadTxn& txn) -> Status {
    ESCROW_ASSIGN_OR_RETURN(rows, txn.audit_checkpoints().List(after, limit + 1));
    ESCROW_ASSIGN_OR_RETURN(keys, txn.audit_checkpoints().SigningKeys());
    return Status::Ok();
  }));
  CheckpointPage page;
  const bool more = rows.size() > limit;
  if (more) rows.resize(limit);
  if (more && !rows.empty()) page.next_after = rows.back().seq;
  page.checkpoints = std::move(rows);
  for (const storage::AuditSigningKeyRow& key : keys) {
    // A stored key that is not a P-256 public key is the database's doing: said, not hidden.
    Result<std::string> pem = PublicKeyPem(key.public_key);
    if (!pem.ok()) {
      return Status::DataLoss("audit signing key " + std::to_string(key.version) +
                                  " in the database is not a P-256 public key",
                              "integrity_error");
    }
    page.public_keys.emplace(key.version, std::move(pem).value());
  }
  ESCROW_RETURN_IF_ERROR(m.AuditOk(caller, Action::kReadAudit, {}, "checkpoints"));
  return page;
}

}  // namespace escrow::vault
