#pragma once

// What vaultctl's commands share: exit codes, printing a result or a failure, the secure heap,
// and loading the config (which points SOFTHSM2_CONF at the config's token store). The
// ceremonies themselves are vault/ops/.

#include <functional>
#include <string>
#include <string_view>

#include "base/result.h"
#include "vault/config.h"

namespace escrow::tools {

inline constexpr int kCtlOk = 0;
inline constexpr int kCtlFailed = 1;
inline constexpr int kCtlUsage = 2;

// A command's body, set by its CLI11 callback and run by main() after parsing.
using CtlRunner = std::function<int()>;

// "vaultctl: <context>: <message>" on stderr; returns kCtlFailed.
int CtlFail(const Status& status, std::string_view context);
// "vaultctl: <message>" on stderr; returns kCtlUsage.
int CtlUsage(std::string_view message);
// `text` on stdout; kCtlOk.
int CtlPrint(std::string_view text);

// Sets up the secure heap before the first secret is read (warns if it cannot be locked).
void CtlPrepareSecrets();

// LoadConfig, then points SOFTHSM2_CONF at the config's softhsm_conf (if any) before any
// PKCS#11 module is loaded, as vaultd does. Not thread-safe: call before threads start.
Result<vault::VaultConfig> LoadCtlConfig(const std::string& path);

}  // namespace escrow::tools
