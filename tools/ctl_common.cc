#include "tools/ctl_common.h"

#include <stdlib.h>

#include <iostream>

#include "base/secret_bytes.h"

namespace escrow::tools {

int CtlFail(const Status& status, std::string_view context) {
  std::cerr << "vaultctl: " << context << ": " << status.message() << "\n";
  return kCtlFailed;
}

int CtlUsage(std::string_view message) {
  std::cerr << "vaultctl: " << message << "\n";
  return kCtlUsage;
}

int CtlPrint(std::string_view text) {
  std::cout << text << std::flush;
  return kCtlOk;
}

void CtlPrepareSecrets() {
  // PINs, ceremony keys, shares and (during rotation) plaintext recovery keys pass through
  // this process: keep them in the mlock'ed, MADV_DONTDUMP secure heap (STYLE.md section 3).
  if (!SecretBytes::InitSecureHeap()) {
    std::cerr << "vaultctl: warning: the secure heap could not be locked in memory "
                 "(raise RLIMIT_MEMLOCK)\n";
  }
}

Result<vault::VaultConfig> LoadCtlConfig(const std::string& path) {
  ESCROW_ASSIGN_OR_RETURN(vault::VaultConfig config, vault::LoadConfig(path));
  if (!config.softhsm_conf.empty()) {
    // NOLINTNEXTLINE(concurrency-mt-unsafe): before any thread or PKCS#11 module
    if (::setenv("SOFTHSM2_CONF", config.softhsm_conf.c_str(), 1) != 0) {
      return Status::Internal("cannot set SOFTHSM2_CONF");
    }
  }
  return config;
}

}  // namespace escrow::tools
