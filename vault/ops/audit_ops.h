#pragma once

// `audit verify` and `audit export`: proving the audit trail was not edited, truncated or
// rolled back, and handing it to a SIEM.

#include <cstdint>
#include <optional>
#include <ostream>
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
  std::uint64_t records = 0;  // written
};

// Writes one JSON object per record (seq, time, actor, role, action, device_id, outcome,
// reason, detail, hash, sealed) and a newline to `out`, oldest first. Reads only the
// database: an export needs no HSM login (verify it with VerifyAudit). kUnavailable if
// `out` fails; otherwise the store's Status.
Result<AuditExportReport> ExportAudit(const AuditExportOptions& options, storage::Store& store,
                                      std::ostream& out);

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
