#pragma once

// `db backup`: a consistent online copy of the database (SQLite's backup API, while vaultd
// keeps writing), the audit head it contains read back from the copy, and both recorded in
// the audit trail and in meta last_backup (which `status` shows).

#include <string>

#include "base/result.h"
#include "vault/commit_pipeline.h"
#include "vault/ops/vault_access.h"

namespace escrow::ops {

struct DbBackupOptions {
  std::string out;  // the copy to write; must not exist
};

struct DbBackupReport {
  std::string path;       // absolute
  vault::AuditHead head;  // the newest audit record in the copy
  std::string text;       // what vaultctl prints
};

// REQUIRES: vault.audit started. kAlreadyExists if `out` exists (never overwritten); the
// Status of the copy, of reading it back ("reading the copy ...") or of the audit record.
Result<DbBackupReport> BackupDatabase(const DbBackupOptions& options, const Vault& vault);

}  // namespace escrow::ops
