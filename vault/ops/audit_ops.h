#pragma once

// `audit verify` and `audit export`: proving the audit trail was not edited, truncated or
// rolled back, and handing it to a SIEM.

#include <cstdint>
#include <optional>
#include <istream>
#include <ostream>
#include <span>
#include <string_view>

#include "base/clock.h"
#include "base/result.h"
#include "storage/store.h"
#include "vault/commit_pipeline.h"
#include "vault/ops/vault_access.h"

namespace escrow::ops {

// "SEQ:HASH" with HASH 64 lowercase hex digits (what `audit verify` prints and takes back as
// --expect-head). kInvalidArgument otherwise.
Result<vault::AuditHead> ParseAuditHead(std::string_view text);

struct AuditVerifyOptions {
  // A head kept outside the vault: an older head (truncation, rollback) or another hash at
  // that sequence fails.
  std::optional<vault::AuditHead> expected;
};

// Walks the whole chain: sequences, hashes and every group MAC in the HSM. The report's `ok`
// is false, naming the first bad record, when the chain does not verify; a Status only when
// the walk itself cannot run. Works on an audit log that is not started (Start() would refuse
// a database whose head fails its MAC before the first bad record could be named).
Result<vault::AuditVerifyReport> VerifyAudit(const AuditVerifyOptions& options, const Vault& vault);

struct AuditExportOptions {
  std::optional<TimePoint> since;  // only records at or after it
};

struct AuditExportReport {
  std::uint64_t records = 0;      // written
  std::uint64_t checkpoints = 0;  // signed checkpoints written
};

// Writes one JSON object and a newline per line to `out`:
//   every record, oldest first: {"type": "record", seq, time (RFC 3339), time_ms, actor, role,
//     action, device_id, outcome, reason, detail, audit_key_version, prev_hash, hash, sealed,
//     mac (hex or null)}: every field the chain hash covers, so that anyone can recompute it
//     (vault::EncodeAuditRecord, vault::ChainHash);
//   then the signed checkpoints of those records: {"type": "checkpoint", seq, hash, at,
//     key_version, signature (base64 DER)}, as GET /v1/audit/checkpoints;
//   then every recorded signing key: {"type": "signing_key", version, public_key (PEM)}.
// Reads only the database: an export needs no HSM login (verify it with VerifyAudit, or with
// the public key alone, VerifySignedExport). kUnavailable if `out` fails; otherwise the
// store's Status.
Result<AuditExportReport> ExportAudit(const AuditExportOptions& options, storage::Store& store,
                                      std::ostream& out);

// `audit verify --signed-by PUBKEY.pem --export FILE`: an export checked with a signing key's
// public key alone (no config, no HSM). Every record's hash is recomputed from its fields and
// its predecessor (the first from its prev_hash), so the chain links; every checkpoint must
// name a record of the export with the same hash, and verify under `public_key` unless the
// export says it was made by another signing key version (another public key: counted in
// `other_key`). kDataLoss naming the line, record or checkpoint for a tampered record or
// checkpoint, a checkpoint past the export's last record (a truncated export), or a key that
// signed none of the checkpoints; kInvalidArgument for a line that is not the export's.
struct SignedExportReport {
  std::uint64_t records = 0;
  std::uint64_t first_seq = 0;
  vault::AuditHead head;         // the export's last record
  vault::AuditHead signed_head;  // the newest checkpoint that verified under the key
  std::int64_t signed_at_ms = 0;
  std::uint64_t verified = 0;    // checkpoints verified under the key
  std::uint64_t other_key = 0;   // checkpoints of other signing keys, not checked
};
Result<SignedExportReport> VerifySignedExport(std::istream& in,
                                              std::span<const std::uint8_t> public_key);

// `audit accept-head`: a database restored from backup on purpose is older than the token's
// checkpoint, and vaultd refuses it. This accepts it as it is: the whole chain must verify
// first; then a `ceremony.accept_head` record names both heads (the token's checkpoint and
// the database's), and the head after that record becomes the token's checkpoint.
struct AcceptHeadReport {
  std::optional<vault::AuditHead> previous;  // the token's checkpoint before (none: never kept)
  vault::AuditHead accepted;                 // the database's head as restored
  vault::AuditHead kept;                     // the new checkpoint, after the ceremony's record
};
// REQUIRES: vault.audit started. kDataLoss if the chain does not verify (naming the first bad
// record); kFailedPrecondition if the module keeps no data objects (nothing to accept).
Result<AcceptHeadReport> AcceptHead(const Vault& vault);

}  // namespace escrow::ops
