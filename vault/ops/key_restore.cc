// master-key restore: see vault/ops/key_backup.h.

#include <filesystem>
#include <sstream>
#include <system_error>

#include <boost/json.hpp>

#include "base/clock.h"
#include "hsm/key_backup.h"
#include "hsm/pin_file.h"
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
    ESCROW_RETURN_IF_ERROR(
        hsm::UnwrapVaultKeys({config.hsm_module, config.hsm_token_label, &user_pin, nullptr},
                             ceremony_key, backup.keys));
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
    report.restored.push_back(k.label);
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
                             {"token_label", config.hsm_token_label},
                             {"token_serial", v->keys().token().serial},
                             {"token_initialised", initialised},
                             {"keys", std::move(keys_json)}};
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
