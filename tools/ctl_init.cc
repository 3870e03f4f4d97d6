// vaultctl init --config FILE ... : the production key ceremony (API.md).

#include <stdlib.h>
#include <sys/stat.h>

#include <iostream>
#include <sstream>
#include <system_error>
#include <vector>

#include <boost/json.hpp>

#include "base/clock.h"
#include "hsm/key_service.h"
#include "hsm/pin_file.h"
#include "hsm/token_init.h"
#include "tools/ctl_commands.h"

namespace escrow::tools {
namespace {

namespace fs = std::filesystem;

// Undoes a failed ceremony: destroys the keys it generated and removes the files it created,
// so that the same command can be run again once the cause is fixed.
class InitGuard {
 public:
  InitGuard() = default;
  InitGuard(const InitGuard&) = delete;  // two owners would clean up twice
  InitGuard& operator=(const InitGuard&) = delete;
  InitGuard(InitGuard&&) = delete;
  InitGuard& operator=(InitGuard&&) = delete;
  ~InitGuard() {
    if (committed_) return;
    if (keys_ != nullptr) {
      for (const hsm::KeyInfo& key : generated_) (void)keys_->DestroyKey(key.role, key.version);
    }
    std::error_code ec;
    for (const fs::path& path : files_) fs::remove(path, ec);
  }
  void Keys(hsm::KeyService* keys) { keys_ = keys; }
  void Generated(const hsm::KeyInfo& key) { generated_.push_back(key); }
  void File(const fs::path& path) { files_.push_back(path); }
  void Commit() { committed_ = true; }

 private:
  hsm::KeyService* keys_ = nullptr;
  std::vector<hsm::KeyInfo> generated_;
  std::vector<fs::path> files_;
  bool committed_ = false;
};

Status RefuseExisting(const fs::path& path, std::string_view what) {
  std::error_code ec;
  if (fs::exists(fs::symlink_status(path, ec))) {
    return Status::AlreadyExists(std::string(what) + " " + path.string() +
                                 " exists; init refuses to overwrite it");
  }
  return Status::Ok();
}

// Finds the token or, with an SO PIN, initialises a new one with the user PIN of --pin-file.
// Returns whether it initialised one.
Result<bool> AdoptOrInitializeToken(const InitCeremonyOptions& o) {
  Result<std::string> serial = hsm::TokenSerial(o.module, o.token_label);
  if (serial.ok()) return false;
  if (o.so_pin_file.empty()) {
    return Status::FailedPrecondition(serial.status().message() +
                                      " (give --so-pin-file to initialise a new token)");
  }
  ESCROW_ASSIGN_OR_RETURN(SecretBytes so_pin, hsm::ReadPinFile(o.so_pin_file));
  ESCROW_ASSIGN_OR_RETURN(SecretBytes user_pin, hsm::ReadPinFile(o.pin_file));
  ESCROW_RETURN_IF_ERROR(hsm::InitializeToken(o.module, o.token_label, so_pin, user_pin)
                             .WithContext("initialising the token"));
  return true;
}

std::string CeremonyDetail(const hsm::TokenInfo& token, const std::string& module,
                           const std::vector<hsm::KeyInfo>& keys, bool backup_capable,
                           bool initialised) {
  boost::json::object detail;
  detail["mode"] = "production";
  detail["module"] = module;
  detail["token_label"] = token.label;
  detail["token_serial"] = token.serial;
  detail["token_initialised"] = initialised;
  detail["backup_capable"] = backup_capable;
  boost::json::array list;
  for (const hsm::KeyInfo& key : keys) {
    list.push_back(boost::json::object{{"label", key.label},
                                       {"role", RoleName(key.role)},
                                       {"version", key.version},
                                       {"check_value", key.check_value},
                                       {"extractable", key.extractable}});
  }
  detail["keys"] = std::move(list);
  return boost::json::serialize(detail);
}

struct Transcript {
  std::string time, operator_name, host;
  const InitCeremonyOptions* options = nullptr;
  hsm::TokenInfo token;
  bool initialised = false;
  std::vector<hsm::KeyInfo> keys;
  vault::AuditHead head;
  fs::path config, db, transcript;
};

std::string Render(const Transcript& t) {
  std::ostringstream out;
  out << "Escrow vault key ceremony: init\n"
      << "time:            " << t.time << "\n"
      << "operator:        " << t.operator_name << " (host " << t.host << ")\n"
      << "module:          " << t.options->module << "\n"
      << "token label:     " << t.token.label << "\n"
      << "token serial:    " << t.token.serial << "\n"
      << "token:           " << t.token.manufacturer << " " << t.token.model
      << (t.initialised ? " (initialised by this ceremony)" : " (adopted)") << "\n"
      << "backup-capable:  " << (t.options->backup_capable ? "yes" : "no") << "\n"
      << "keys:\n";
  for (const hsm::KeyInfo& key : t.keys) {
    out << "  " << key.label << "  role " << RoleName(key.role) << "  version " << key.version
        << "  check value " << key.check_value << "  "
        << (key.sensitive ? "sensitive" : "NOT SENSITIVE") << ", "
        << (key.extractable ? "extractable only wrapped under a trusted key"
                            : "never extractable")
        << "\n";
  }
  out << "active master key version: 1\n"
      << "audit head:      " << t.head.seq << ":" << t.head.hash << "\n"
      << "config:          " << t.config.string() << "\n"
      << "database:        " << t.db.string() << "\n"
      << "transcript:      " << t.transcript.string() << "\n"
      << "next: fill in [tls], [[clients]] and [idp] of the config before starting vaultd\n";
  return out.str();
}

// A production config: the HSM and database of this ceremony; TLS and IdP paths are
// placeholders beside the config that the operator fills in before vaultd starts.
vault::VaultConfig ProductionConfig(const InitCeremonyOptions& o, const fs::path& dir,
                                    const fs::path& db) {
  vault::VaultConfig c;
  c.dev = false;
  c.tls_cert = (dir / "tls" / "server.crt").string();
  c.tls_key = (dir / "tls" / "server.key").string();
  c.client_ca = (dir / "tls" / "client-ca.crt").string();
  c.issuers = {"https://idp.example.invalid"};
  c.audience = "escrow-vault";
  c.idp_keys = {(dir / "idp" / "signing.pub").string()};
  c.hsm_module = fs::absolute(o.module).string();
  c.hsm_token_label = o.token_label;
  c.hsm_pin_file = fs::absolute(o.pin_file).string();
  // The token store this ceremony used, so that vaultd and later ceremonies find the token.
  // NOLINTNEXTLINE(concurrency-mt-unsafe): read before any thread starts
  if (const char* conf = std::getenv("SOFTHSM2_CONF"); conf != nullptr && *conf != '\0') {
    c.softhsm_conf = fs::absolute(conf).string();
  }
  c.db_path = db.string();
  return c;
}

Result<std::string> InitCeremony(const InitCeremonyOptions& o) {
  ::umask(077);
  const fs::path config_path = fs::absolute(o.config).lexically_normal();
  const fs::path dir = config_path.parent_path();
  const fs::path db_path =
      o.db.empty() ? dir / "vault.db" : fs::absolute(o.db).lexically_normal();
  const fs::path ceremony_dir = dir / "ceremony";
  const fs::path transcript_path = ceremony_dir / "init.txt";
  ESCROW_RETURN_IF_ERROR(RefuseExisting(config_path, "the config"));
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
    ESCROW_RETURN_IF_ERROR(RefuseExisting(db_path.string() + suffix, "the database"));
  }
  ESCROW_RETURN_IF_ERROR(RefuseExisting(transcript_path, "the transcript"));
  if (Result<SecretBytes> pin = hsm::ReadPinFile(o.pin_file); !pin.ok()) return pin.status();

  std::unique_ptr<hsm::KeyService> keys;  // outlives the guard, which may destroy keys with it
  InitGuard guard;
  ESCROW_ASSIGN_OR_RETURN(const bool initialised, AdoptOrInitializeToken(o));
  Result<std::unique_ptr<hsm::KeyService>> opened =
      hsm::KeyService::Open({o.module, o.token_label, o.pin_file});
  if (!opened.ok()) return opened.status().WithContext("hsm");
  keys = std::move(*opened);
  ESCROW_ASSIGN_OR_RETURN(std::vector<hsm::KeyInfo> present, keys->ListKeys());
  if (!present.empty()) {
    return Status::AlreadyExists("the token " + o.token_label + " already holds " +
                                 present.front().label +
                                 "; init refuses to adopt or replace existing vault keys");
  }
  guard.Keys(keys.get());
  std::vector<hsm::KeyInfo> infos;
  for (const hsm::KeyRole role : {hsm::KeyRole::kMaster, hsm::KeyRole::kAudit}) {
    Result<hsm::KeyInfo> info = keys->GenerateKey(role, 1, o.backup_capable);
    if (!info.ok()) return info.status().WithContext("generating the " + RoleName(role) + " key");
    guard.Generated(*info);
    infos.push_back(std::move(*info));
  }

  std::error_code ec;
  fs::create_directories(dir, ec);
  fs::create_directories(db_path.parent_path(), ec);
  vault::AuditHead head;
  {
    storage::StoreOptions options;
    options.path = db_path.string();
    options.create = true;
    guard.File(db_path);
    for (const char* suffix : {"-wal", "-shm", "-journal"}) guard.File(db_path.string() + suffix);
    ESCROW_ASSIGN_OR_RETURN(std::unique_ptr<storage::Store> store, storage::Store::Open(options));
    vault::AuditLog audit(*keys, *store, Clock::System(), 1, nullptr);
    ESCROW_RETURN_IF_ERROR(audit.Start());
    auto set_versions = [](storage::WriteTxn& txn) -> Status {
      ESCROW_RETURN_IF_ERROR(txn.SetMeta("active_master_key_version", "1"));
      return txn.SetMeta("audit_key_version", "1");
    };
    ESCROW_RETURN_IF_ERROR(AuditCeremony(
        audit, "ceremony.init",
        CeremonyDetail(keys->token(), o.module, infos, o.backup_capable, initialised),
        set_versions));
    head = audit.head();
  }

  const vault::VaultConfig config = ProductionConfig(o, dir, db_path);
  guard.File(config_path);
  ESCROW_RETURN_IF_ERROR(WriteNewPrivateFile(config_path, vault::RenderConfig(config)));
  if (Result<vault::VaultConfig> loaded = vault::LoadConfig(config_path.string()); !loaded.ok()) {
    return loaded.status().WithContext("the written config does not load");
  }

  Transcript t;
  t.time = FormatRfc3339(Clock::System().Now());
  t.operator_name = OperatorName();
  t.host = HostName();
  t.options = &o;
  t.token = keys->token();
  t.initialised = initialised;
  t.keys = infos;
  t.head = head;
  t.config = config_path;
  t.db = db_path;
  t.transcript = transcript_path;
  std::string text = Render(t);
  fs::create_directories(ceremony_dir, ec);
  ESCROW_RETURN_IF_ERROR(WriteNewPrivateFile(transcript_path, text));
  guard.Commit();
  return text;
}

}  // namespace

int RunInitCeremony(const InitCeremonyOptions& options) {
  if (options.module.empty() || options.token_label.empty() || options.pin_file.empty()) {
    return CtlUsage("init --config needs --module, --token-label and --pin-file");
  }
  CtlPrepareSecrets();
  return CtlPrint(InitCeremony(options), "init");
}

}  // namespace escrow::tools
