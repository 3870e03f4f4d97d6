#pragma once

#include <filesystem>
#include <string>

#include "base/result.h"

namespace escrow::tools {

struct DevInitOptions {
  std::filesystem::path state_dir;
  std::string listen = "127.0.0.1:8443";
  bool backup_capable = false;
  std::string module_path = "/usr/lib/softhsm/libsofthsm2.so";
  std::string token_label = "escrow-dev";
};

// `vaultctl init --dev`: builds the development state of API.md in `state_dir` (which may be
// missing or empty): a SoftHSMv2 token of its own with escrow-master-v1 and escrow-audit-v1,
// random PINs, the dev PKI, the dev IdP key, the database with its metadata and a first audit
// record of the ceremony, vault.conf (dev = true) and the ceremony transcript. The directory
// is 0700 and every secret 0600.
//
// Returns the transcript (also written to ceremony/init.txt). kAlreadyExists if the directory
// is initialised or not empty, kInvalidArgument for a bad --listen, otherwise the Status of
// the step that failed; on any failure everything it created is removed again, so that the
// same command can simply be run again.
//
// Sets the umask to 077 and SOFTHSM2_CONF for this process (SoftHSMv2 reads it when the module is initialised).
// Not thread-safe: call once per process, before any PKCS#11 module is loaded.
Result<std::string> InitDevState(const DevInitOptions& options);

}  // namespace escrow::tools
