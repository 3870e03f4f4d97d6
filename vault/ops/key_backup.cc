#include "vault/ops/key_backup.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <iomanip>
#include <memory>
#include <sstream>
#include <string_view>
#include <system_error>
#include <utility>

#include <boost/json.hpp>
#include <openssl/rand.h>

#include "base/clock.h"
#include "base/unique_fd.h"
#include "hsm/pin_file.h"
#include "vault/meta.h"
#include "vault/ops/ceremony_record.h"
#include "vault/ops/files.h"
#include "vault/ops/keys_backup_file.h"
#include "vault/ops/shares.h"
#include "vault/ops/vault_access.h"

namespace escrow::ops {
namespace {

namespace fs = std::filesystem;

struct DirCloser {
  void operator()(DIR* d) const { ::closedir(d); }
};

std::string OctalMode(mode_t mode) {
  std::ostringstream o;
  o << std::oct << std::setw(4) << std::setfill('0') << (mode & 07777);
  return o.str();
}

// The --out directory, which will hold the shares in the clear: created 0700 (its parent as
// needed) if missing. An existing one must be a real directory (a symlink could point the
// shares anywhere), owned by the real uid (someone else could read them or swap the files),
// with no group or other access, and empty (no earlier backup overwritten, nothing planted).
// The checks run on the opened directory (O_NOFOLLOW), not on a path that could change.
// kFailedPrecondition or kAlreadyExists with a one-line reason naming the rule.
Status PrepareOut(const fs::path& dir) {
  const std::string name = "--out " + dir.string();
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) {
    if (errno != ENOENT) return Status::Unavailable("cannot stat " + name);
    std::error_code ec;
    fs::create_directories(dir.parent_path(), ec);
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      return Status::Unavailable("cannot create " + name);
    }
  } else if (S_ISLNK(st.st_mode)) {
    return Status::FailedPrecondition(name + " is a symbolic link: give a real directory");
  }
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ELOOP) {
      return Status::FailedPrecondition(name + " is a symbolic link: give a real directory");
    }
    if (errno == ENOTDIR) return Status::FailedPrecondition(name + " is not a directory");
    return Status::Unavailable("cannot open " + name);
  }
  if (::fstat(fd.get(), &st) != 0) return Status::Unavailable("cannot stat " + name);
  if (st.st_uid != ::getuid()) {
    return Status::FailedPrecondition(name + " is owned by uid " + std::to_string(st.st_uid) +
                                      ", not by the caller (uid " + std::to_string(::getuid()) +
                                      "): it must be the caller's own");
  }
  if ((st.st_mode & 077) != 0) {
    return Status::FailedPrecondition(name + " has mode " + OctalMode(st.st_mode) +
                                      ": group and others must have no access (chmod 700)");
  }
  std::unique_ptr<DIR, DirCloser> entries(::fdopendir(fd.get()));
  if (entries == nullptr) return Status::Unavailable("cannot list " + name);
  static_cast<void>(fd.release());  // closedir closes it now
  for (;;) {
    errno = 0;
    const dirent* e = ::readdir(entries.get());  // NOLINT(concurrency-mt-unsafe): our own stream
    if (e == nullptr) break;
    const std::string_view entry = e->d_name;
    if (entry != "." && entry != "..") {
      return Status::AlreadyExists(name + " is not empty (it has " + std::string(entry) +
                                   "): give an empty or new directory");
    }
  }
  // A failed listing is not an empty directory.
  if (errno != 0) return Status::Unavailable("cannot list " + name);
  return Status::Ok();
}

}  // namespace

Result<KeyBackupReport> BackupKeys(const KeyBackupOptions& a) {
  if (a.threshold < 2 || a.threshold > a.shares || a.shares > 255) {
    return Status::InvalidArgument("master-key backup needs 2 <= --threshold <= --shares <= 255");
  }
  if (!a.recipients.empty() && a.recipients.size() != a.shares) {
    return Status::InvalidArgument("give one --recipient per share (" + std::to_string(a.shares) +
                                   "), or none");
  }
  const vault::VaultConfig& config = a.config;
  // A module without an SO login (NSS's softoken) can make no trusted ceremony key: said
  // before anyone looks for an SO PIN.
  ESCROW_RETURN_IF_ERROR(
      hsm::CheckBackupPossible({config.hsm_module, config.hsm_token_label, nullptr, nullptr,
                                config.hsm_token_uri, config.hsm_init_args}));
  ESCROW_ASSIGN_OR_RETURN(std::string so_pin_path,
                          SoPinFileFor(config, a.so_pin_file,
                                       "the ceremony key is marked trusted, which needs the SO"));
  fs::path out = fs::absolute(a.out).lexically_normal();
  // "DIR/" would make lstat and O_NOFOLLOW follow a symlink DIR: check the name itself.
  if (!out.has_filename()) out = out.parent_path();
  ESCROW_RETURN_IF_ERROR(PrepareOut(out));
  ESCROW_ASSIGN_OR_RETURN(SecretBytes so_pin, hsm::ReadPinFile(so_pin_path));
  ESCROW_ASSIGN_OR_RETURN(SecretBytes user_pin, hsm::ReadPinFile(config.hsm_pin_file));

  // The database first (no HSM login yet: the SO must be the only one logged in to create
  // the trusted ceremony key).
  KeysBackup backup;
  {
    ESCROW_ASSIGN_OR_RETURN(std::unique_ptr<storage::Store> store,
                            OpenConfiguredStore(config, 1));
    ESCROW_ASSIGN_OR_RETURN(
        backup.active_master_key_version,
        vault::ReadMetaVersion(*store, vault::MetaKey::kActiveMasterKeyVersion));
    ESCROW_ASSIGN_OR_RETURN(backup.audit_key_version,
                            vault::ReadMetaVersion(*store, vault::MetaKey::kAuditKeyVersion));
  }

  // A fresh ceremony key, known to us only so that it can be split, in secure memory.
  SecretBytes ceremony_key(hsm::kCeremonyKeyBytes);
  if (RAND_bytes(ceremony_key.mutable_span().data(), static_cast<int>(ceremony_key.size())) != 1) {
    return Status::Internal("RAND_bytes failed");
  }
  ESCROW_ASSIGN_OR_RETURN(backup.backup_id, RandomHex(16));
  Result<std::vector<hsm::WrappedKey>> wrapped =
      hsm::WrapVaultKeys({config.hsm_module, config.hsm_token_label, &user_pin, &so_pin,
                          config.hsm_token_uri, config.hsm_init_args},
                         ceremony_key);
  if (!wrapped.ok()) return wrapped.status();
  backup.keys = std::move(*wrapped);
  backup.created = FormatRfc3339(Clock::System().Now());
  backup.token_label = vault::TokenName(config);
  backup.threshold = a.threshold;
  backup.shares = a.shares;

  ESCROW_ASSIGN_OR_RETURN(
      std::vector<CeremonyShare> shares,
      SplitSecret(ceremony_key, backup.backup_id, static_cast<std::uint8_t>(a.threshold),
                  static_cast<std::uint8_t>(a.shares)));
  // Open the vault (user login) only now, after the SO session is gone.
  ESCROW_ASSIGN_OR_RETURN(OpenedVault v, OpenVault(config, true));
  backup.token_serial = v.keys().token().serial;
  ESCROW_ASSIGN_OR_RETURN(std::string file, RenderKeysBackup(backup, ceremony_key));

  // Encrypt every share before writing any, so a bad certificate leaves nothing behind.
  std::vector<std::pair<fs::path, Bytes>> encrypted;
  for (std::size_t i = 0; i < a.recipients.size(); ++i) {
    const SecretBytes text = RenderShare(shares[i]);
    ESCROW_ASSIGN_OR_RETURN(Bytes cms, CmsEncryptTo(text, a.recipients[i]));
    encrypted.emplace_back(out / ("share-" + std::to_string(i + 1)), std::move(cms));
  }
  KeyBackupReport report;
  report.backup_id = backup.backup_id;
  report.keys_file = (out / "keys.backup").string();
  ESCROW_RETURN_IF_ERROR(WriteNewPrivateFile(out / "keys.backup", file));
  for (std::size_t i = 0; i < shares.size(); ++i) {
    const fs::path path = out / ("share-" + std::to_string(i + 1));
    report.share_files.push_back(path.string());
    if (a.recipients.empty()) {
      const SecretBytes text = RenderShare(shares[i]);
      ESCROW_RETURN_IF_ERROR(WriteNewPrivateFile(path, text.RevealSecret()));
    } else {
      ESCROW_RETURN_IF_ERROR(WriteNewPrivateFile(path, encrypted[i].second));
    }
  }

  std::ostringstream t;
  boost::json::array keys_json;
  t << "Escrow vault key ceremony: master-key backup\n"
    << "time:            " << backup.created << "\n"
    << "operator:        " << OperatorName() << " (host " << HostName() << ")\n"
    << "token:           " << backup.token_label << " (serial " << backup.token_serial << ")\n"
    << "backup id:       " << backup.backup_id << "\n"
    << "keys (wrapped with CKM_AES_KEY_WRAP_PAD under a trusted session key):\n";
  for (const hsm::WrappedKey& k : backup.keys) {
    t << "  " << k.label << "  check value " << k.check_value << "\n";
    keys_json.push_back(boost::json::object{{"label", k.label}, {"check_value", k.check_value}});
  }
  t << "shares:          any " << a.threshold << " of " << a.shares << "\n";
  boost::json::array shares_json;
  for (std::size_t i = 0; i < shares.size(); ++i) {
    const SecretBytes text = RenderShare(shares[i]);
    const std::string_view s = text.RevealSecretText();
    const std::string check(s.substr(s.find("check: ") + 7, 16));
    t << "  share-" << i + 1 << "  index " << static_cast<int>(shares[i].index) << "  check "
      << check;
    if (!a.recipients.empty()) t << "  CMS-encrypted to " << a.recipients[i];
    t << "\n";
    shares_json.push_back(
        boost::json::object{{"index", shares[i].index},
                            {"check", check},
                            {"recipient", a.recipients.empty() ? std::string() : a.recipients[i]}});
  }
  t << "files:           " << (out / "keys.backup").string() << ", " << (out / "share-1").string()
    << " ... share-" << a.shares << "\n"
    << "hand each share to its custodian and remove it from this machine\n";
  boost::json::object detail{
      {"backup_id", backup.backup_id}, {"out", out.string()},
      {"threshold", a.threshold},      {"shares", a.shares},
      {"keys", std::move(keys_json)},  {"share_checks", std::move(shares_json)}};
  ESCROW_RETURN_IF_ERROR(
      RecordCeremony(v.audit(), "ceremony.master_key.backup", boost::json::serialize(detail)));
  report.transcript = t.str();
  return report;
}

}  // namespace escrow::ops
