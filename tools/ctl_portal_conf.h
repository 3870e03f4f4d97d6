#pragma once

#include <filesystem>
#include <string>

#include "base/status.h"

namespace escrow::tools {

// Writes DIR/portal.conf (mode 0600) for the development state: portald on loopback beside
// the vault (the vault's port + 1, or 8444), calling it as the `portal` client (frontend
// role), dev sign-in with the dev IdP key and a few users, one per role. `vault_listen` is
// the HOST:PORT written to vault.conf. kAlreadyExists if the file exists.
Status WriteDevPortalConf(const std::filesystem::path& state_dir, const std::string& vault_listen);

}  // namespace escrow::tools
