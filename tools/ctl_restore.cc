// vaultctl master-key restore --config FILE --backup DIR/keys.backup --share F [--share F]...
//                             [--so-pin-file F]
//
// Everything that can be checked is checked before the token is touched: each share's check
// value, that the shares belong to this backup, that there are enough of them, and the
// backup's MAC under the recombined ceremony key. Only then are the keys unwrapped, all or
// nothing, into the configured token (which must hold no vault keys; if no token with the
// configured label exists and an SO PIN is at hand, a new one is initialised first).

#include <iostream>
#include <sstream>
#include <system_error>

#include <boost/json.hpp>

#include "base/clock.h"
#include "hsm/key_backup.h"
#include "hsm/pin_file.h"
#include "hsm/token_init.h"
#include "tools/ctl_commands.h"
#include "tools/ctl_keys_backup.h"
#include "tools/ctl_shares.h"

namespace escrow::tools {
namespace {

constexpr std::size_t kMaxShareBytes = 4096;
constexpr std::size_t kMaxBackupBytes = 1 << 20;

struct RestoreArgs {
  std::string config, backup, so_pin_file;
  std::vector<std::string> shares;
};

// The token of the config, initialised with the SO PIN (and the config's user PIN) if it is
// missing. Returns whether it was initialised.
Result<bool> EnsureToken(const vault::VaultConfig& config, const std::string& so_pin_file) {
  if (hsm::TokenSerial(config.hsm_module, config.hsm_token_label).ok()) return false;
  ESCROW_ASSIGN_OR_RETURN(
      const std::string so_path,
      SoPinFileFor(config, so_pin_file,
                   "no token labelled " + config.hsm_token_label +
                       "; initialise one, or let restore initialise it with the SO PIN"));
  ESCROW_ASSIGN_OR_RETURN(SecretBytes so_pin, hsm::ReadPinFile(so_path));
  ESCROW_ASSIGN_OR_RETURN(SecretBytes user_pin, hsm::ReadPinFile(config.hsm_pin_file));
  ESCROW_RETURN_IF_ERROR(
      hsm::InitializeToken(config.hsm_module, config.hsm_token_label, so_pin, user_pin)
          .WithContext("initialising the token " + config.hsm_token_label));
  return true;
}

Result<std::string> Restore(const RestoreArgs& a) {
  ESCROW_ASSIGN_OR_RETURN(vault::VaultConfig config, LoadCtlConfig(a.config));

  std::vector<CeremonyShare> shares;
  for (const std::string& path : a.shares) {
    ESCROW_ASSIGN_OR_RETURN(SecretBytes text, ReadSecretFile(path, kMaxShareBytes));
    if (text.RevealSecretText().find("Content-Type: application/") != std::string_view::npos ||
        text.RevealSecretText().starts_with("MIME-Version")) {
      return Status::InvalidArgument(path + " is still CMS-encrypted: its custodian decrypts it "
                                            "first (openssl cms -decrypt)");
    }
    ESCROW_ASSIGN_OR_RETURN(CeremonyShare share, ParseShare(text.RevealSecret(), path));
    shares.push_back(std::move(share));
  }
  Result<std::string> file = ReadSmallFile(a.backup, kMaxBackupBytes);
  if (!file.ok()) return file.status();
  ESCROW_ASSIGN_OR_RETURN(KeysBackup backup, ParseKeysBackup(*file));
  for (const CeremonyShare& s : shares) {
    if (s.backup_id != backup.backup_id) {
      return Status::InvalidArgument("share " + std::to_string(s.index) + " belongs to backup " +
                                     s.backup_id + ", not to " + a.backup + " (" +
                                     backup.backup_id + ")");
    }
  }
  ESCROW_ASSIGN_OR_RETURN(SecretBytes ceremony_key, CombineShares(shares));
  if (ceremony_key.size() != hsm::kCeremonyKeyBytes) {
    return Status::DataLoss("the shares do not hold a ceremony key");
  }
  ESCROW_RETURN_IF_ERROR(AuthenticateKeysBackup(*file, ceremony_key));

  // Verified: now, and only now, the token.
  ESCROW_ASSIGN_OR_RETURN(const bool initialised, EnsureToken(config, a.so_pin_file));
  {
    ESCROW_ASSIGN_OR_RETURN(SecretBytes user_pin, hsm::ReadPinFile(config.hsm_pin_file));
    ESCROW_RETURN_IF_ERROR(hsm::UnwrapVaultKeys(
        {config.hsm_module, config.hsm_token_label, &user_pin, nullptr}, ceremony_key,
        backup.keys));
  }

  std::ostringstream t;
  t << "Escrow vault key ceremony: master-key restore\n"
    << "time:            " << FormatRfc3339(Clock::System().Now()) << "\n"
    << "operator:        " << OperatorName() << " (host " << HostName() << ")\n"
    << "backup id:       " << backup.backup_id << " (made " << backup.created << " from token "
    << backup.token_label << ", serial " << backup.token_serial << ")\n"
    << "shares used:     ";
  for (const CeremonyShare& s : shares) t << static_cast<int>(s.index) << " ";
  t << "(threshold " << backup.threshold << ")\n"
    << "token:           " << config.hsm_token_label
    << (initialised ? " (initialised by this restore)" : "") << "\n"
    << "keys restored:\n";
  boost::json::array keys_json;
  for (const hsm::WrappedKey& k : backup.keys) {
    t << "  " << k.label << "  check value " << k.check_value << " (verified by the token)\n";
    keys_json.push_back(boost::json::object{{"label", k.label}, {"check_value", k.check_value}});
  }

  // The audit key is back, so the chain can be continued (Start() checks its head's MAC).
  Result<CtlVault> v = OpenCtlVault(config, true);
  if (!v.ok()) {
    t << "warning: the keys are restored but the database could not be audited: "
      << v.status().message() << "\n";
    return t.str();
  }
  boost::json::object detail{{"backup_id", backup.backup_id},
                             {"token_label", config.hsm_token_label},
                             {"token_serial", v->keys->token().serial},
                             {"token_initialised", initialised},
                             {"keys", std::move(keys_json)}};
  ESCROW_RETURN_IF_ERROR(
      AuditCeremony(*v->audit, "ceremony.master_key.restore", boost::json::serialize(detail)));
  t << "token serial:    " << v->keys->token().serial << "\n"
    << "audit head:      " << v->audit->head().seq << ":" << v->audit->head().hash << "\n";
  return t.str();
}

}  // namespace

void AddRestoreCommand(CLI::App& master_key, CtlRunner& run) {
  auto args = std::make_shared<RestoreArgs>();
  CLI::App* cmd = master_key.add_subcommand("restore", "Restore the keys from shares");
  cmd->add_option("--config", args->config, "vault.conf")->required();
  cmd->add_option("--backup", args->backup, "DIR/keys.backup")->required();
  cmd->add_option("--share", args->shares, "A plain (decrypted) share file; repeat")->required();
  cmd->add_option("--so-pin-file", args->so_pin_file,
                  "SO PIN, to initialise the token if it does not exist (default with "
                  "dev = true only: the dev state's hsm/so.pin)");
  cmd->callback([args, &run] {
    run = [args]() -> int {
      CtlPrepareSecrets();
      return CtlPrint(Restore(*args), "master-key restore");
    };
  });
}

void AddMasterKeyCommands(CLI::App& app, CtlRunner& run) {
  CLI::App* master = app.add_subcommand("master-key", "Master-key rotation, backup and restore");
  master->require_subcommand(1);
  AddRotateCommand(*master, run);
  AddBackupCommand(*master, run);
  AddRestoreCommand(*master, run);
}

}  // namespace escrow::tools
