#pragma once

// Master-key rotation while vaultd serves, resumable after a crash or kill -9 at any point:
//   1. meta rotation_target = N+1 (with an audit record) BEFORE the key exists, so that a
//      re-run finds the rotation in progress and never generates yet another key;
//   2. escrow-master-v<N+1> is generated (or found, if an earlier run got that far) and the
//      token store synced to disk (SoftHSMv2 does not fsync), then probed;
//   3. meta active_master_key_version = N+1: every write transaction of vaultd reads it, so
//      new records are sealed under the new key from here on;
//   4. every record under an older version is decrypted and re-encrypted by the HSM (the
//      plaintext only in SecretBytes) and replaced in batches, each its own transaction,
//      with WriteTxn::ReplaceSealed refusing a row whose version changed meanwhile; one
//      batch commits while the HSM works on the next. This repeats until
//      ListSealedUnder(old) is empty for every old version;
//   5. rotation_target is cleared (with an audit record).
// A kill at any point leaves either the old or the new sealing of every record in the
// database, each decryptable with the key version its row names; re-running resumes.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "vault/ops/vault_access.h"

namespace escrow::ops {

inline constexpr std::size_t kDefaultRotateBatch = 500;

struct RotateOptions {
  // Destroy every other master-key version that no record uses (backups taken before the
  // rotation become unreadable: the caller has confirmed it).
  bool retire_old = false;
  std::size_t batch = kDefaultRotateBatch;  // records per transaction
  // Called at each point where stopping is safe: "target", "keygen", "activate", "batch:<n>"
  // (after the n-th committed batch) and "complete". vaultctl's crash tests SIGKILL there.
  std::function<void(std::string_view point)> at_point;
  // Where progress, resumption and warnings go as they happen (vaultctl: stderr); may be null.
  std::ostream* notes = nullptr;
  bool notes_on_terminal = false;  // a redrawn progress bar instead of plain lines
};

struct RotateReport {
  std::string text;  // what vaultctl prints on stdout
  std::uint32_t target = 0;
  std::vector<std::uint32_t> from_versions;
  std::int64_t records = 0;                                    // re-encrypted
  std::vector<std::string> retired;                            // labels destroyed with retire_old
  std::vector<std::pair<std::uint32_t, std::int64_t>> counts;  // records per version after
};

// REQUIRES: vault.audit started. kDataLoss names a record that fails its integrity check (the
// rotation stops there, audited, and resumes when run again once it is dealt with);
// otherwise the Status of the HSM or database step that failed.
Result<RotateReport> Rotate(const RotateOptions& options, const Vault& vault);

}  // namespace escrow::ops
