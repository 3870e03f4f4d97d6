#pragma once

// The development state's vault-notify configuration (`vaultctl init --dev`): notify.conf,
// notify.secret and notify/ in the state directory, beside the `notifier` client certificate
// of the dev PKI. vault-notify (README "vault-notify") reads them.

#include <filesystem>
#include <string>
#include <string_view>

#include "base/status.h"
#include "vault/ops/dev_certs.h"

namespace escrow::ops {

// The names notify.conf, notify.secret and notify/ inside the state directory.
inline constexpr std::string_view kNotifyConfName = "notify.conf";
inline constexpr std::string_view kNotifySecretName = "notify.secret";
inline constexpr std::string_view kNotifyStateName = "notify";
// The dev PKI's client certificate for vault-notify (its [[clients]] role is "notifier").
inline constexpr std::string_view kNotifierClientName = "notifier";

// notify.conf's text for a vaultd listening on `listen` (HOST:PORT), with the dev PKI's CA
// and `notifier` certificate. REQUIRES: `pki` has a client named kNotifierClientName.
std::string RenderNotifyConf(const std::filesystem::path& state_dir, std::string_view listen,
                             const DevPki& pki);

// Writes notify.conf (0644), notify.secret (32 random bytes as 64 lowercase hex digits, 0600)
// and creates notify/ (0700). kAlreadyExists if any exists; kInternal if the pki has no
// notifier certificate or no random bytes come; kUnavailable on I/O errors.
Status WriteNotifyFiles(const std::filesystem::path& state_dir, std::string_view listen,
                        const DevPki& pki);

}  // namespace escrow::ops
