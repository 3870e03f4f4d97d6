#pragma once

// Making SoftHSMv2's object store durable. No PKCS#11 here.

#include <filesystem>
#include <optional>
#include <string_view>

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

}  // namespace escrow::hsm
