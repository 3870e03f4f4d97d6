#pragma once

// What the ceremony and operations commands of vaultctl share: exit codes, the opened vault
// (config, HSM, database, audit chain), ceremony audit records and operator identity.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"
#include "base/secret_bytes.h"
#include "hsm/key_service.h"
#include "storage/store.h"
#include "vault/commit_pipeline.h"
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
// A command's result: its text on stdout and kCtlOk, or CtlFail(its status, context).
int CtlPrint(const Result<std::string>& text, std::string_view context);

// Sets up the secure heap before the first secret is read (warns if it cannot be locked).
void CtlPrepareSecrets();

// LoadConfig, then points SOFTHSM2_CONF at the config's softhsm_conf (if any) before any
// PKCS#11 module is loaded, as vaultd does. Not thread-safe: call before threads start.
Result<vault::VaultConfig> LoadCtlConfig(const std::string& path);

// The vault as a ceremony sees it. Members are destroyed in reverse order (audit first).
struct CtlVault {
  vault::VaultConfig config;
  std::unique_ptr<hsm::KeyService> keys;
  std::unique_ptr<storage::Store> store;
  std::unique_ptr<vault::CommitPipeline> audit;  // started only if asked for
  std::uint32_t audit_key_version = 0;

  CtlVault() = default;
  CtlVault(CtlVault&&) = default;
  CtlVault& operator=(CtlVault&&) = default;
  CtlVault(const CtlVault&) = delete;  // owns the HSM session and the database
  CtlVault& operator=(const CtlVault&) = delete;
  ~CtlVault();
};

// Opens the token (user login) and the database named by `config`; with `start_audit`, also
// starts the audit chain (which checks the newest group's MAC). kNotFound if the database
// does not exist; otherwise the Status of KeyService::Open / Store::Open / AuditLog::Start.
Result<CtlVault> OpenCtlVault(const vault::VaultConfig& config, bool start_audit);

// The person running the ceremony: the account name of the real user id (getpwuid_r), or
// "uid N" if it has none. Never $USER or getlogin(): the caller sets the environment, and
// getlogin() reads utmp, so either would let the audit record name someone else.
std::string OperatorName();
std::string HostName();

// The SO PIN file of a ceremony: `given` (--so-pin-file) if set, else the dev state's
// hsm/so.pin beside the config, but only if the config says dev = true: a production vault
// never picks up an SO PIN that happens to lie there. kInvalidArgument naming --so-pin-file,
// after `why` (what needs the SO), otherwise.
Result<std::string> SoPinFileFor(const vault::VaultConfig& config, const std::string& given,
                                 std::string_view why);

// Appends one ceremony audit record (role "operator", actor the operator) after applying
// `change` in the same transaction. `detail` is a JSON object text.
Status AuditCeremony(vault::CommitPipeline& audit, std::string_view action, std::string detail,
                     vault::CommitPipeline::Change change = {}, std::string_view outcome = "ok");

// Writes `text` to a new file of mode 0600 (kAlreadyExists if it exists), fsynced.
Status WriteNewPrivateFile(const std::filesystem::path& path, std::string_view text);
Status WriteNewPrivateFile(const std::filesystem::path& path, std::span<const std::uint8_t> data);
// Reads a whole small file (at most `max_bytes`). kNotFound / kInvalidArgument.
Result<std::string> ReadSmallFile(const std::filesystem::path& path, std::size_t max_bytes);

// A small secret file (a share) straight into secure memory. kNotFound / kInvalidArgument.
Result<SecretBytes> ReadSecretFile(const std::filesystem::path& path, std::size_t max_bytes);

// "master" / "audit".
std::string RoleName(hsm::KeyRole role);

}  // namespace escrow::tools
