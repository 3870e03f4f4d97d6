// master-key restore: see vault/ops/key_backup.h.

#include <algorithm>
#include <filesystem>
#include <sstream>
#include <system_error>

#include <boost/json.hpp>

#include "base/clock.h"
#include "hsm/key_backup.h"
#include "hsm/pin_file.h"
#include "hsm/pkcs11_uri.h"
#include "hsm/token_init.h"
#include "vault/ops/ceremony_record.h"
#include "vault/ops/files.h"
#include "vault/ops/key_backup.h"
#include "vault/ops/keys_backup_file.h"
#include "vault/ops/shares.h"
#include "vault/ops/vault_access.h"

namespace escrow::ops {
namespace {

constexpr std::size_t kMaxShareBytes = 4096;
constexpr std::size_t kMaxBackupBytes = 1 << 20;

// The token of the config, initialised with the SO PIN (and the config's user PIN) if it is
// missing. Returns whether it was initialised.
Result<bool> EnsureToken(const vault::VaultConfig& config, const std::string& so_pin_file) {
  ESCROW_ASSIGN_OR_RETURN(const hsm::HsmConfig hsm, vault::HsmConfigFor(config));
  if (hsm::TokenSerial(hsm).ok()) return false;
  const std::string name = vault::TokenName(config);
  ESCROW_ASSIGN_OR_RETURN(
      const std::string so_path,
      SoPinFileFor(config, so_pin_file,
                   "no token " + (config.hsm_token_uri.empty() ? "labelled " + name : name) +
                       "; initialise one, or let restore initialise it with the SO PIN"));
  ESCROW_ASSIGN_OR_RETURN(SecretBytes so_pin, hsm::ReadPinFile(so_path));
  ESCROW_ASSIGN_OR_RETURN(SecretBytes user_pin, hsm::ReadPinFile(config.hsm_pin_file));
  ESCROW_ASSIGN_OR_RETURN(const hsm::TokenSelector token,
                          hsm::SelectToken(config.hsm_token_label, config.hsm_token_uri));
  if (!token.token) {
    return Status::InvalidArgument("initialising a new token needs its label ([hsm] token_label)");
  }
  ESCROW_RETURN_IF_ERROR(
      hsm::InitializeToken(config.hsm_module, *token.token, so_pin, user_pin, config.hsm_init_args)
          .WithContext("initialising the token " + name));
  return true;
}

}  // namespace

Result<KeyRestoreReport> RestoreKeys(const KeyRestoreOptions& a) {
  const vault::VaultConfig& config = a.config;
  KeyRestoreReport report;

  std::vector<CeremonyShare> shares;
  for (const std::string& path : a.shares) {
    ESCROW_ASSIGN_OR_RETURN(SecretBytes text, ReadSecretFile(path, kMaxShareBytes));
    if (text.RevealSecretText().find("Content-Type: application/") != std::string_view::npos ||
        text.RevealSecretText().starts_with("MIME-Version")) {
      return Status::InvalidArgument(path +
                                     " is still CMS-encrypted: its custodian decrypts it "
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
  report.backup_id = backup.backup_id;
  report.token_initialised = initialised;
  {
    ESCROW_ASSIGN_OR_RETURN(SecretBytes user_pin, hsm::ReadPinFile(config.hsm_pin_file));
    const hsm::TokenLogin login{config.hsm_module, config.hsm_token_label, &user_pin,
                                nullptr,           config.hsm_token_uri,   config.hsm_init_args};
    if (a.add) {
      ESCROW_ASSIGN_OR_RETURN(hsm::KeyImport import,
                              hsm::ImportMissingVaultKeys(login, ceremony_key, backup.keys));
      report.restored = std::move(import.imported);
      report.already_present = std::move(import.present);
    } else {
      ESCROW_RETURN_IF_ERROR(hsm::UnwrapVaultKeys(login, ceremony_key, backup.keys));
      for (const hsm::WrappedKey& k : backup.keys) report.restored.push_back(k.label);
    }
  }

  std::ostringstream t;
  t << "Escrow vault key ceremony: master-key restore" << (a.add ? " --add" : "") << "\n"
    << "time:            " << FormatRfc3339(Clock::System().Now()) << "\n"
    << "operator:        " << OperatorName() << " (host " << HostName() << ")\n"
    << "backup id:       " << backup.backup_id << " (made " << backup.created << " from token "
    << backup.token_label << ", serial " << backup.token_serial << ")\n"
    << "shares used:     ";
  for (const CeremonyShare& s : shares) t << static_cast<int>(s.index) << " ";
  t << "(threshold " << backup.threshold << ")\n"
    << "token:           " << vault::TokenName(config)
    << (initialised ? " (initialised by this restore)" : "") << "\n";
  // Labels in the backup's order, each with its recorded (and token-verified) check value.
  const auto listed = [&](const std::vector<std::string>& labels, std::string_view note) {
    boost::json::array json;
    for (const hsm::WrappedKey& k : backup.keys) {
      if (std::find(labels.begin(), labels.end(), k.label) == labels.end()) continue;
      t << "  " << k.label << "  check value " << k.check_value << note << "\n";
      json.push_back(boost::json::object{{"label", k.label}, {"check_value", k.check_value}});
    }
    return json;
  };
  t << (a.add ? "keys imported:\n" : "keys restored:\n");
  if (report.restored.empty()) t << "  none: the token already holds every key of this backup\n";
  boost::json::array keys_json = listed(report.restored, " (verified by the token)");
  boost::json::array present_json;
  if (a.add) {
    t << "keys already on the token (the same keys: check values match; left alone):\n";
    if (report.already_present.empty()) t << "  none\n";
    present_json = listed(report.already_present, "");
  }

  // The audit key is back, so the chain can be continued (Start() checks its head's MAC).
  Result<OpenedVault> v = OpenVault(config, true);
  if (!v.ok()) {
    t << "warning: the keys are restored but the database could not be audited: "
      << v.status().message() << "\n";
    report.transcript = t.str();
    return report;
  }
  boost::json::object detail{{"backup_id", backup.backup_id},
                             {"token_label", vault::TokenName(config)},
                             {"token_serial", v->keys().token().serial},
                             {"token_initialised", initialised},
                             {"keys", std::move(keys_json)}};
  if (a.add) {
    detail["mode"] = "add";
    detail["already_present"] = std::move(present_json);
  }
  ESCROW_RETURN_IF_ERROR(
      RecordCeremony(v->audit(), "ceremony.master_key.restore", boost::json::serialize(detail)));
  report.audited = true;
  report.head = v->audit().head();
  t << "token serial:    " << v->keys().token().serial << "\n"
    << "audit head:      " << report.head.seq << ":" << report.head.hash << "\n";
  report.transcript = t.str();
  return report;
}

}  // namespace escrow::ops
