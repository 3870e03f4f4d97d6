#pragma once

// Master-key backup and restore as Shamir shares (API.md, `master-key backup` / `restore`).
//
// Backup: a fresh ceremony key (RAND_bytes, secure memory) wraps every vault key inside the
// HSM, as a trusted key that only the SO can create; keys.backup holds the wrapped keys under
// a MAC, and the ceremony key is split into N shares of which any M recombine it.
//
// Backup wraps every vault key on the token: every role (master, audit, fingerprint, state) and
// every version.
//
// Restore: everything that can be checked is checked before the token is touched: each
// share's check value, that the shares belong to this backup, that there are enough of them,
// and the backup's MAC under the recombined ceremony key. Only then are the keys unwrapped,
// all or nothing, into the configured token (which must hold no vault keys; if no token with
// the configured label exists and an SO PIN is at hand, a new one is initialised first).
// With `add` (restore --add), the token may hold vault keys: only the key versions it lacks are
// imported, and each one it has must be the backup's (same check value), so that several
// nodes' tokens can follow a rotation done on one (hsm::ImportMissingVaultKeys).

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"
#include "hsm/key_backup.h"
#include "vault/commit_pipeline.h"
#include "vault/config.h"

namespace escrow::ops {

struct KeyBackupOptions {
  vault::VaultConfig config;
  std::string out;                      // new, or empty, the caller's own and mode 0700
  std::string so_pin_file;              // empty: the dev state's hsm/so.pin, for dev = true only
  unsigned shares = 0;                  // N, 2..255
  unsigned threshold = 0;               // M, 2..N
  std::vector<std::string> recipients;  // none, or one certificate per share (CMS)
};

struct KeyBackupReport {
  std::string transcript;  // what vaultctl prints
  std::string backup_id;
  std::string keys_file;                 // DIR/keys.backup
  std::vector<std::string> share_files;  // DIR/share-1 ... share-N
};

// Opens the vault itself: the SO session that marks the ceremony key trusted must be the only
// one logged in, so the user login comes after it. kInvalidArgument for bad counts, a
// recipient list of the wrong length or no SO PIN; kFailedPrecondition / kAlreadyExists for an
// --out directory that is not new or empty, the caller's own and 0700; otherwise the Status
// of the step that failed (keys that are not backup-capable are refused by the HSM).
Result<KeyBackupReport> BackupKeys(const KeyBackupOptions& options);

struct KeyRestoreOptions {
  vault::VaultConfig config;
  std::string backup;               // DIR/keys.backup
  std::vector<std::string> shares;  // plain (decrypted) share files
  std::string so_pin_file;          // to initialise a missing token; see KeyBackupOptions
  bool add = false;                 // --add: import only the key versions the token lacks
};

struct KeyRestoreReport {
  std::string transcript;  // what vaultctl prints
  std::string backup_id;
  bool token_initialised = false;
  std::vector<std::string> restored;         // labels unwrapped into the token
  std::vector<std::string> already_present;  // --add: labels the token had, the same keys
  bool audited = false;  // false: the keys are back but the database could not be audited
  vault::AuditHead head;
};

// kInvalidArgument for a share still CMS-encrypted, shares of another backup or too few;
// kDataLoss for a damaged share or keys.backup, or shares that do not give its key; nothing
// touches the token before all of that passed. Without `add`, kFailedPrecondition for a token
// that holds vault keys; with it, kFailedPrecondition naming the label of a key the token holds
// that is not the backup's (nothing imported).
Result<KeyRestoreReport> RestoreKeys(const KeyRestoreOptions& options);

}  // namespace escrow::ops
