#include "tools/ctl_common.h"

#include <fcntl.h>
#include <pwd.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>

#include <array>
#include <fstream>
#include <iostream>
#include <iterator>
#include <system_error>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "base/unique_fd.h"
#include "tools/dev_certs.h"
#include "vault/meta.h"

namespace escrow::tools {
namespace {

// getpwuid_r's buffer stops growing here: a longer entry is not a real account.
constexpr std::size_t kMaxPasswdBuffer = 1 << 20;

}  // namespace

int CtlFail(const Status& status, std::string_view context) {
  std::cerr << "vaultctl: " << context << ": " << status.message() << "\n";
  return kCtlFailed;
}

int CtlUsage(std::string_view message) {
  std::cerr << "vaultctl: " << message << "\n";
  return kCtlUsage;
}

int CtlPrint(const Result<std::string>& text, std::string_view context) {
  if (!text.ok()) return CtlFail(text.status(), context);
  std::cout << *text << std::flush;
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

CtlVault::~CtlVault() {
  audit.reset();
  store.reset();
  keys.reset();
}

Result<CtlVault> OpenCtlVault(const vault::VaultConfig& config, bool start_audit) {
  std::error_code ec;
  if (!std::filesystem::exists(config.db_path, ec)) {
    return Status::NotFound("no database at " + config.db_path);
  }
  CtlVault v;
  v.config = config;
  Result<std::unique_ptr<hsm::KeyService>> keys =
      hsm::KeyService::Open({config.hsm_module, config.hsm_token_label, config.hsm_pin_file});
  if (!keys.ok()) return keys.status().WithContext("hsm");
  v.keys = std::move(*keys);
  storage::StoreOptions options;
  options.path = config.db_path;
  options.create = false;
  Result<std::unique_ptr<storage::Store>> store = storage::Store::Open(options);
  if (!store.ok()) return store.status().WithContext("database");
  v.store = std::move(*store);
  Result<std::uint32_t> audit_version =
      vault::ReadMetaVersion(*v.store, vault::MetaKey::kAuditKeyVersion);
  if (!audit_version.ok()) return audit_version.status().WithContext("database");
  v.audit_key_version = *audit_version;
  v.audit = std::make_unique<vault::CommitPipeline>(*v.keys, *v.store, Clock::System(),
                                              *audit_version, nullptr);
  if (start_audit) {
    if (Status s = v.audit->Start(); !s.ok()) return s.WithContext("audit");
  }
  return v;
}

std::string OperatorName() {
  // The audit record's actor must be who really ran the ceremony: the real uid's name from
  // the password database, which the caller cannot set ($USER and utmp it can).
  const uid_t uid = ::getuid();
  const long hint = ::sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buffer(hint > 0 ? static_cast<std::size_t>(hint) : 1024);
  passwd entry{};
  passwd* found = nullptr;
  int rc = 0;
  while ((rc = ::getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &found)) == ERANGE &&
         buffer.size() < kMaxPasswdBuffer) {
    buffer.resize(buffer.size() * 2);
  }
  if (rc == 0 && found != nullptr && found->pw_name != nullptr) {
    std::string name = found->pw_name;
    if (!name.empty()) return name;
  }
  return "uid " + std::to_string(uid);
}

std::string HostName() {
  std::array<char, 256> name{};
  if (::gethostname(name.data(), name.size() - 1) != 0) return "unknown";
  return name.data();
}

Result<std::string> SoPinFileFor(const vault::VaultConfig& config, const std::string& given,
                                 std::string_view why) {
  if (!given.empty()) return given;
  if (config.dev) {
    return (std::filesystem::path(config.path).parent_path() / "hsm" / "so.pin").string();
  }
  return Status::InvalidArgument(std::string(why) +
                                 ": give --so-pin-file (hsm/so.pin beside the config is read "
                                 "only for a dev = true state)");
}

Status AuditCeremony(vault::CommitPipeline& audit, std::string_view action, std::string detail,
                     vault::CommitPipeline::Change change, std::string_view outcome) {
  vault::AuditEvent event;
  event.actor = OperatorName();
  event.role = "operator";
  event.action = std::string(action);
  event.outcome = std::string(outcome);
  event.detail = std::move(detail);
  Status s = audit.Commit(std::move(change), {std::move(event)});
  if (!s.ok()) return s.WithContext("auditing " + std::string(action));
  return s;
}

Status WriteNewPrivateFile(const std::filesystem::path& path, std::string_view text) {
  return WriteNewFile(path, text, 0600);
}

Status WriteNewPrivateFile(const std::filesystem::path& path, std::span<const std::uint8_t> data) {
  return WriteNewFile(path, data, 0600);
}

Result<std::string> ReadSmallFile(const std::filesystem::path& path, std::size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("cannot read " + path.string());
  std::string text;
  text.resize(max_bytes + 1);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  const auto got = static_cast<std::size_t>(in.gcount());
  if (got > max_bytes) {
    return Status::InvalidArgument(path.string() + " is larger than " +
                                   std::to_string(max_bytes) + " bytes");
  }
  text.resize(got);
  return text;
}

Result<SecretBytes> ReadSecretFile(const std::filesystem::path& path, std::size_t max_bytes) {
  const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return Status::NotFound("cannot read " + path.string());
  SecretBytes buffer(max_bytes + 1);
  std::size_t got = 0;
  for (;;) {
    std::span<std::uint8_t> room = buffer.mutable_span().subspan(got);
    if (room.empty()) break;
    const ssize_t n = ::read(fd.get(), room.data(), room.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  if (got > max_bytes) {
    return Status::InvalidArgument(path.string() + " is larger than " +
                                   std::to_string(max_bytes) + " bytes");
  }
  buffer.Truncate(got);
  return buffer;
}

std::string RoleName(hsm::KeyRole role) {
  return role == hsm::KeyRole::kMaster ? "master" : "audit";
}

}  // namespace escrow::tools
