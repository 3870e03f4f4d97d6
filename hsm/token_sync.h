#pragma once

// Making SoftHSMv2's object store durable. No PKCS#11 here.

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "base/status.h"

namespace escrow::hsm {

// The `directories.tokendir` of the SoftHSMv2 configuration named by $SOFTHSM2_CONF (default
// /etc/softhsm/softhsm2.conf); nullopt if the file or the line is missing.
std::optional<std::filesystem::path> SoftHsmTokenDir();
// The `directories.tokendir` line of the SoftHSMv2 configuration file `conf`.
std::optional<std::filesystem::path> TokenDirFromConf(const std::filesystem::path& conf);

// SoftHSMv2 writes its object files without fsync, so a key generated just before a power cut
// may be gone afterwards while records encrypted under it survive in the database. This fsyncs
// the token directory, directories after their contents: only the subdirectory of the token
// with serial number `serial` (found by its token.object) when that is unambiguous, otherwise
// every file and directory under SoftHsmTokenDir().
// OK when the directory cannot be determined (another PKCS#11 module: its durability is its
// own). kUnavailable if a file or directory cannot be synced.
Status SyncSoftHsmTokenDir(std::string_view serial = {});

// For a write that must be durable quickly (the audit checkpoint, once per group of commits that
// releases a key): SyncSoftHsmTokenDir syncs every file of the token, a dozen fsyncs of ~3-4 ms
// each on the 2-core VM, when a write changes two or three. Take a snapshot of the token's
// directory before the PKCS#11 calls, then sync what changed since.
struct TokenSnapshot {
  std::filesystem::path dir;  // the token's subdirectory; empty if not found (sync everything)
  std::chrono::system_clock::time_point taken;
  std::map<std::filesystem::path, std::chrono::system_clock::time_point> ctimes;  // lstat ctime
};
TokenSnapshot SnapshotSoftHsmToken(std::string_view serial);

// What changed under `before.dir` since the snapshot: entries that are new, whose ctime differs,
// or whose ctime is within kCtimeSlack of when the snapshot was taken (the kernel stamps files
// with a clock that ticks every few ms, so a change in the snapshot's own tick keeps its ctime).
// Files, then directories deepest first (each synced after the entries it gained).
inline constexpr std::chrono::milliseconds kCtimeSlack{100};
struct SyncPlan {
  std::vector<std::filesystem::path> files;
  std::vector<std::filesystem::path> directories;
};
Result<SyncPlan> PlanTokenSync(const TokenSnapshot& before);

// Syncs PlanTokenSync(before); SyncSoftHsmTokenDir(serial) if the snapshot found no directory.
// OK when there is no SoftHSMv2 configuration (another module); kUnavailable as
// SyncSoftHsmTokenDir.
Status SyncSoftHsmTokenChanges(const TokenSnapshot& before, std::string_view serial);

}  // namespace escrow::hsm
