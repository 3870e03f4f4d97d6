#include "tools/dev_state.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <memory>
#include <sstream>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <boost/json.hpp>
#include <openssl/rand.h>

#include "base/clock.h"
#include "base/host_port.h"
#include "base/secret_bytes.h"
#include "hsm/key_service.h"
#include "hsm/token_init.h"
#include "storage/store.h"
#include "tools/ctl_common.h"
#include "tools/dev_certs.h"
#include "vault/audit_log.h"
#include "vault/config.h"

namespace escrow::tools {
namespace {

namespace fs = std::filesystem;

// Everything InitDevState creates directly in the state directory. Any of them present means
// the directory is (or was partly) initialised; on failure exactly these are removed.
constexpr std::array<std::string_view, 9> kStateEntries = {
    "vault.conf", "vault.db", "vault.db-wal", "vault.db-shm", "vault.db-journal",
    "hsm",        "tls",      "idp",          "ceremony"};

constexpr std::string_view kDevIssuer = "https://idp.dev.local";
constexpr std::string_view kDevAudience = "escrow-vault";
constexpr std::size_t kPinChars = 16;
// 32 symbols, so a random byte masked to 5 bits picks one uniformly; no 0/O, 1/l look-alikes.
constexpr std::string_view kPinAlphabet = "abcdefghijkmnpqrstuvwxyz23456789";

// Removes what a failed InitDevState created, so that running it again is not refused.
class StateDirGuard {
 public:
  StateDirGuard(fs::path dir, bool created_dir) : dir_(std::move(dir)), created_dir_(created_dir) {}
  StateDirGuard(const StateDirGuard&) = delete;  // two owners would clean up twice
  StateDirGuard& operator=(const StateDirGuard&) = delete;
  StateDirGuard(StateDirGuard&&) = delete;
  StateDirGuard& operator=(StateDirGuard&&) = delete;
  ~StateDirGuard() {
    if (committed_) return;
    std::error_code ec;
    for (std::string_view entry : kStateEntries) fs::remove_all(dir_ / entry, ec);
    if (created_dir_) fs::remove(dir_, ec);  // only if still empty
  }
  void Commit() { committed_ = true; }

 private:
  fs::path dir_;
  bool created_dir_;
  bool committed_ = false;
};

Status ErrnoStatus(std::string_view what, const fs::path& path, int err) {
  return Status::Unavailable(std::string(what) + " " + path.string() + ": " + std::strerror(err));
}

// Creates the state directory (0700) if missing, or checks that an existing one is an empty
// directory and tightens it to 0700. Returns whether it was created.
Result<bool> PrepareStateDir(const fs::path& dir) {
  std::error_code ec;
  const fs::file_status st = fs::symlink_status(dir, ec);
  if (!fs::exists(st)) {
    if (!dir.parent_path().empty()) fs::create_directories(dir.parent_path(), ec);
    if (::mkdir(dir.c_str(), 0700) != 0) return ErrnoStatus("cannot create", dir, errno);
    return true;
  }
  if (!fs::is_directory(fs::status(dir, ec))) {
    return Status::AlreadyExists(dir.string() + " exists and is not a directory");
  }
  for (std::string_view entry : kStateEntries) {
    if (fs::exists(fs::symlink_status(dir / entry, ec))) {
      return Status::AlreadyExists(dir.string() + " is already initialised (it has " +
                                   std::string(entry) + "); refusing to touch it");
    }
  }
  if (!fs::is_empty(dir, ec) || ec) {
    return Status::AlreadyExists(dir.string() + " is not empty; give a new or empty directory");
  }
  if (::chmod(dir.c_str(), 0700) != 0) return ErrnoStatus("cannot chmod", dir, errno);
  return false;
}

Status MakeDir(const fs::path& dir) {
  if (::mkdir(dir.c_str(), 0700) != 0) return ErrnoStatus("cannot create", dir, errno);
  return Status::Ok();
}

// A random PIN of kPinChars characters from RAND_bytes, held only in SecretBytes.
Result<SecretBytes> RandomPin() {
  SecretBytes raw(kPinChars);
  if (RAND_bytes(raw.mutable_span().data(), static_cast<int>(raw.size())) != 1) {
    return Status::Internal("RAND_bytes failed");
  }
  SecretBytes pin(kPinChars);
  const std::span<const std::uint8_t> r = raw.RevealSecret();
  std::span<std::uint8_t> out = pin.mutable_span();
  for (std::size_t i = 0; i < kPinChars; ++i) {
    out[i] = static_cast<std::uint8_t>(kPinAlphabet[r[i] & 31U]);
  }
  return pin;
}

// The detail of the ceremony's audit record: what an auditor needs to match the token later.
std::string CeremonyDetail(const hsm::TokenInfo& token, const std::vector<hsm::KeyInfo>& keys,
                           bool backup_capable) {
  boost::json::object detail;
  detail["mode"] = "dev";
  detail["token_label"] = token.label;
  detail["token_serial"] = token.serial;
  detail["backup_capable"] = backup_capable;
  boost::json::array key_list;
  for (const hsm::KeyInfo& key : keys) {
    key_list.push_back(boost::json::object{{"label", key.label},
                                           {"role", RoleName(key.role)},
                                           {"version", key.version},
                                           {"check_value", key.check_value},
                                           {"extractable", key.extractable}});
  }
  detail["keys"] = std::move(key_list);
  return boost::json::serialize(detail);
}

struct TranscriptInput {
  std::string time;
  std::string operator_name;
  std::string host;
  const DevInitOptions* options = nullptr;
  hsm::TokenInfo token;
  std::vector<hsm::KeyInfo> keys;
  vault::AuditHead head;
  std::vector<std::pair<std::string, fs::path>> files;
};

std::string RenderTranscript(const TranscriptInput& in) {
  std::ostringstream out;
  out << "Escrow vault key ceremony: init (development state)\n"
      << "time:            " << in.time << "\n"
      << "operator:        " << in.operator_name << " (host " << in.host << ")\n"
      << "module:          " << in.options->module_path << "\n"
      << "token label:     " << in.token.label << "\n"
      << "token serial:    " << in.token.serial << "\n"
      << "backup-capable:  " << (in.options->backup_capable ? "yes" : "no") << "\n"
      << "listen:          " << in.options->listen << "\n"
      << "keys:\n";
  for (const hsm::KeyInfo& key : in.keys) {
    out << "  " << key.label << std::string(key.label.size() < 17 ? 17 - key.label.size() : 1, ' ')
        << "role " << RoleName(key.role) << "  version " << key.version
        << "  check value " << key.check_value << "  "
        << (key.sensitive ? "sensitive" : "NOT SENSITIVE") << ", "
        << (key.extractable ? "extractable only wrapped under a trusted key" : "never extractable")
        << "\n";
  }
  out << "audit head:      " << in.head.seq << ":" << in.head.hash << "\n"
      << "files:\n";
  for (const auto& [what, path] : in.files) {
    out << "  " << what << std::string(what.size() < 18 ? 18 - what.size() : 1, ' ')
        << path.string() << "\n";
  }
  return out.str();
}

Status CheckListen(const std::string& listen) {
  Result<HostPort> hp = ParseHostPort(listen);
  if (!hp.ok()) {
    return Status::InvalidArgument("--listen must be HOST:PORT, got \"" + listen + "\"");
  }
  if (!IsLoopbackHost(hp->host)) {
    return Status::InvalidArgument("a dev state listens on loopback only (vaultd refuses "
                                   "dev = true elsewhere), got \"" + listen + "\"");
  }
  return Status::Ok();
}

Status WriteMeta(storage::Store& store) {
  return store.Write([](storage::WriteTxn& txn) -> Status {
    ESCROW_RETURN_IF_ERROR(txn.SetMeta("active_master_key_version", "1"));
    return txn.SetMeta("audit_key_version", "1");
  });
}

}  // namespace

Result<std::string> InitDevState(const DevInitOptions& options) {
  // Whatever a library creates on its own (SQLite's WAL, SoftHSMv2's objects) is private too.
  ::umask(077);
  const std::string operator_name = OperatorName();
  ESCROW_RETURN_IF_ERROR(CheckListen(options.listen));
  if (options.state_dir.empty()) return Status::InvalidArgument("--state-dir is empty");
  const fs::path dir = fs::absolute(options.state_dir).lexically_normal();

  ESCROW_ASSIGN_OR_RETURN(const bool created_dir, PrepareStateDir(dir));
  StateDirGuard guard(dir, created_dir);

  const fs::path hsm_dir = dir / "hsm";
  const fs::path tls_dir = dir / "tls";
  const fs::path idp_dir = dir / "idp";
  const fs::path ceremony_dir = dir / "ceremony";
  for (const fs::path& d : {hsm_dir, hsm_dir / "tokens", tls_dir, tls_dir / "clients", idp_dir,
                            ceremony_dir}) {
    ESCROW_RETURN_IF_ERROR(MakeDir(d));
  }

  // The token: its own SoftHSMv2 store, chosen through SOFTHSM2_CONF before the module loads.
  const fs::path softhsm_conf = hsm_dir / "softhsm2.conf";
  const fs::path user_pin_path = hsm_dir / "user.pin";
  const fs::path so_pin_path = hsm_dir / "so.pin";
  ESCROW_RETURN_IF_ERROR(WriteNewFile(
      softhsm_conf,
      "# SoftHSMv2 token store of the escrow vault's development state (vaultctl init --dev)\n"
      "directories.tokendir = " + (hsm_dir / "tokens").string() + "\n"
      "objectstore.backend = file\n"
      "log.level = ERROR\n"
      "slots.removable = false\n",
      0600));
  ESCROW_ASSIGN_OR_RETURN(SecretBytes user_pin, RandomPin());
  ESCROW_ASSIGN_OR_RETURN(SecretBytes so_pin, RandomPin());
  ESCROW_RETURN_IF_ERROR(WriteNewFile(user_pin_path, user_pin.RevealSecret(), 0600));
  ESCROW_RETURN_IF_ERROR(WriteNewFile(so_pin_path, so_pin.RevealSecret(), 0600));
  // NOLINTNEXTLINE(concurrency-mt-unsafe): no other thread exists yet
  if (::setenv("SOFTHSM2_CONF", softhsm_conf.c_str(), 1) != 0) {
    return ErrnoStatus("cannot set SOFTHSM2_CONF to", softhsm_conf, errno);
  }
  if (Status s = hsm::InitializeToken(options.module_path, options.token_label, so_pin, user_pin);
      !s.ok()) {
    return s.WithContext("initialising the token");
  }

  ESCROW_ASSIGN_OR_RETURN(
      std::unique_ptr<hsm::KeyService> keys,
      hsm::KeyService::Open({options.module_path, options.token_label, user_pin_path.string()}));
  std::vector<hsm::KeyInfo> key_infos;
  for (const hsm::KeyRole role : {hsm::KeyRole::kMaster, hsm::KeyRole::kAudit}) {
    Result<hsm::KeyInfo> info = keys->GenerateKey(role, 1, options.backup_capable);
    if (!info.ok()) return info.status().WithContext("generating the " + RoleName(role) + " key");
    key_infos.push_back(std::move(info).value());
  }
  const hsm::TokenInfo token = keys->token();

  // Development PKI and identity provider.
  static const std::array<std::string, 2> kClientNames = {"portal", "mdm"};
  ESCROW_ASSIGN_OR_RETURN(DevPki pki, CreateDevPki(tls_dir, kClientNames));
  const fs::path idp_key = idp_dir / "dev-signing.key";
  const fs::path idp_pub = idp_dir / "dev-signing.pub";
  ESCROW_RETURN_IF_ERROR(CreateEcSigningKey(idp_key, idp_pub));

  // The database, its key versions and the ceremony's audit record.
  const fs::path db_path = dir / "vault.db";
  vault::AuditHead head;
  {
    storage::StoreOptions store_options;
    store_options.path = db_path.string();
    store_options.create = true;
    ESCROW_ASSIGN_OR_RETURN(std::unique_ptr<storage::Store> store,
                            storage::Store::Open(store_options));
    ESCROW_RETURN_IF_ERROR(WriteMeta(*store).WithContext("writing the key versions"));
    vault::AuditLog audit(*keys, *store, Clock::System(), 1, [](const vault::AuditHead&) {});
    ESCROW_RETURN_IF_ERROR(audit.Start());
    vault::AuditEvent event;
    event.actor = operator_name;
    event.role = "operator";
    event.action = "ceremony.init";
    event.outcome = "ok";
    event.detail = CeremonyDetail(token, key_infos, options.backup_capable);
    ESCROW_RETURN_IF_ERROR(audit.Append(std::move(event)).WithContext("auditing the ceremony"));
    head = audit.head();
  }

  // vault.conf last but one: its presence marks the directory as initialised.
  vault::VaultConfig config;
  config.dev = true;
  config.listen = options.listen;
  config.tls_cert = pki.server_cert.string();
  config.tls_key = pki.server_key.string();
  config.client_ca = pki.ca_cert.string();
  for (const DevClientCert& client : pki.clients) {
    config.clients.push_back(
        {client.name, client.fingerprint, client.name == "mdm" ? "mdm" : "frontend"});
  }
  config.issuers = {std::string(kDevIssuer)};
  config.audience = std::string(kDevAudience);
  config.idp_keys = {idp_pub.string()};
  config.hsm_module = options.module_path;
  config.hsm_token_label = options.token_label;
  config.hsm_pin_file = user_pin_path.string();
  config.softhsm_conf = softhsm_conf.string();
  config.db_path = db_path.string();
  const fs::path config_path = dir / "vault.conf";
  ESCROW_RETURN_IF_ERROR(WriteNewFile(config_path, vault::RenderConfig(config), 0600));
  // What vaultd will read must be what was meant: read it back through the same loader.
  if (Result<vault::VaultConfig> loaded = vault::LoadConfig(config_path.string()); !loaded.ok()) {
    return loaded.status().WithContext("the written vault.conf does not load");
  }

  TranscriptInput transcript;
  transcript.time = FormatRfc3339(Clock::System().Now());
  transcript.operator_name = operator_name;
  transcript.host = HostName();
  transcript.options = &options;
  transcript.token = token;
  transcript.keys = key_infos;
  transcript.head = head;
  transcript.files = {{"config", config_path},
                      {"database", db_path},
                      {"softhsm config", softhsm_conf},
                      {"token store", hsm_dir / "tokens"},
                      {"user PIN", user_pin_path},
                      {"SO PIN", so_pin_path},
                      {"CA", pki.ca_cert},
                      {"CA key", pki.ca_key},
                      {"server cert", pki.server_cert},
                      {"server key", pki.server_key}};
  for (const DevClientCert& client : pki.clients) {
    transcript.files.emplace_back("client " + client.name, client.cert_path);
    transcript.files.emplace_back("client " + client.name + " key", client.key_path);
  }
  transcript.files.emplace_back("IdP signing key", idp_key);
  transcript.files.emplace_back("IdP public key", idp_pub);
  transcript.files.emplace_back("transcript", ceremony_dir / "init.txt");
  std::string text = RenderTranscript(transcript);
  ESCROW_RETURN_IF_ERROR(WriteNewFile(ceremony_dir / "init.txt", text, 0600));

  guard.Commit();
  return text;
}

}  // namespace escrow::tools
