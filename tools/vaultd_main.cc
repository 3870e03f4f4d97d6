// vaultd: loads the config, opens the HSM and the database, checks the audit chain's head,
// and serves the HTTPS API until SIGTERM/SIGINT, then drains and exits 0. Every failure to
// start is one JSON line {"event":"fatal","error":"..."} on stderr and exit status 1.

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "api/server.h"
#include "auth/jwks.h"
#include "auth/verifier_source.h"
#include "auth/jwt_verifier.h"
#include "base/clock.h"
#include "base/host_port.h"
#include "base/log.h"
#include "base/secret_bytes.h"
#include "hsm/key_service.h"
#include "storage/store.h"
#include "vault/audit_checkpoint.h"
#include "vault/config.h"
#include "vault/escrow_service.h"
#include "vault/hardening.h"
#include "vault/meta.h"
#include "vault/release_keys.h"
#include <CLI/CLI.hpp>

namespace escrow::tools {
namespace {

int Fatal(const std::string& error) {
  LogError("fatal", error);
  return 1;
}

// One line at start: what the HSM module cannot do, and how the vault answers each (nothing
// listed: it does everything the vault uses). Without AES-GCM or HMAC the vault never gets here:
// KeyService::Open refuses, naming the mechanism.
void LogHsmCapabilities(const vault::VaultConfig& config, const hsm::KeyService& keys) {
  const std::vector<std::string> missing = keys.capabilities().Missing();
  boost::json::array cannot;
  std::string message = missing.empty() ? "the HSM module does everything the vault uses"
                                        : "the HSM module cannot do: ";
  for (std::size_t i = 0; i < missing.size(); ++i) {
    cannot.emplace_back(missing[i]);
    message += (i == 0 ? "" : "; ") + missing[i];
  }
  LogJson({{"event", "hsm_capabilities"},
           {"module", config.hsm_module},
           {"token", vault::TokenName(config)},
           {"cannot", std::move(cannot)},
           {"message", message}});
}

// A secret file must be readable by its owner only.
Status CheckPrivateFile(const std::string& what, const std::string& path) {
  if (path.empty()) return Status::Ok();
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    return Status::InvalidArgument(what + " " + path + ": " + std::strerror(errno));
  }
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    return Status::InvalidArgument(what + " " + path +
                                   " is accessible by group or others (chmod 600 it)");
  }
  return Status::Ok();
}

Result<auth::JwtVerifier> MakeVerifier(const vault::VaultConfig& config) {
  std::vector<auth::JwtKey> keys;
  for (const std::string& path : config.idp_keys) {
    Result<auth::JwtKey> key = auth::LoadJwtKeyPemFile(path, "");
    if (!key.ok()) return key.status().WithContext("idp key " + path);
    keys.push_back(std::move(*key));
  }
  if (!config.idp_jwks.empty()) {
    Result<std::vector<auth::JwtKey>> set = auth::LoadJwksFile(config.idp_jwks);
    if (!set.ok()) return set.status().WithContext("idp jwks " + config.idp_jwks);
    for (auth::JwtKey& k : *set) keys.push_back(std::move(k));
  }
  auth::JwtPolicy policy;
  policy.issuers = config.issuers;
  policy.audience = config.audience;
  policy.owner_claim = config.owner_claim;
  return auth::JwtVerifier::Create(std::move(keys), std::move(policy));
}

// Invariant 7 (DESIGN.md): vault/hardening.h does the work; this logs its warnings.
Status Harden() {
  Result<vault::HardeningReport> report = vault::HardenProcess();
  if (!report.ok()) return report.status();
  for (const std::string& warning : report->warnings) LogInfo("warning", warning);
  if (!report->memory_warning.empty()) LogInfo("warning", report->memory_warning);
  return Status::Ok();
}

// Started as root: drop to the configured user after every file is open. Without a user,
// warn and run on (API.md).
Status DropPrivileges(const std::string& user) {
  Result<vault::PrivilegeDrop> dropped = vault::DropPrivileges(user);
  if (!dropped.ok()) return dropped.status();
  if (*dropped == vault::PrivilegeDrop::kNoUser) {
    LogInfo("warning", "running as root: set 'user' in the config to drop privileges");
  }
  return Status::Ok();
}

int Run(int argc, char** argv) {
  CLI::App app{"vaultd: the recovery-key escrow vault's HTTPS API server"};
  std::string config_path;
  std::string listen;
  app.add_option("--config", config_path, "vault.conf (TOML)")->required();
  app.add_option("--listen", listen, "HOST:PORT (port 0 picks a free one)");
  std::string node;
  app.add_option("--node", node,
                 "this node's name, over [server] node (several nodes sharing one token)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    return Fatal(e.what());
  }
  if (Status s = Harden(); !s.ok()) return Fatal("hardening: " + s.message());

  Result<vault::VaultConfig> loaded = vault::LoadConfig(config_path);
  if (!loaded.ok()) return Fatal(loaded.status().message());
  if (!node.empty()) {
    if (Status s = hsm::ValidateNodeName(node); !s.ok()) return Fatal("--node: " + s.message());
    loaded->node = node;
  }
  const vault::VaultConfig& config = *loaded;
  if (listen.empty()) listen = config.listen;
  const Result<HostPort> hp = ParseHostPort(listen);
  if (config.dev && (!hp.ok() || !IsLoopbackHost(hp->host))) {
    return Fatal("a dev config serves on loopback only, not " + listen);
  }
  for (const auto& [what, path] :
       {std::pair{"PIN file", config.hsm_pin_file}, std::pair{"TLS private key", config.tls_key}}) {
    if (Status s = CheckPrivateFile(what, path); !s.ok()) return Fatal(s.message());
  }
  for (const std::string& path : config.idp_keys) {
    // Public keys may be readable; a private key configured by mistake must not be.
    std::FILE* f = std::fopen(path.c_str(), "r");
    if (f != nullptr) {
      char buf[4096];
      const std::size_t n = std::fread(buf, 1, sizeof buf, f);
      (void)std::fclose(f);  // opened read-only: nothing was written that a close could lose
      if (std::string_view(buf, n).find("PRIVATE KEY") != std::string_view::npos) {
        if (Status s = CheckPrivateFile("IdP private key", path); !s.ok())
          return Fatal(s.message());
      }
    }
  }
  if (!config.softhsm_conf.empty()) setenv("SOFTHSM2_CONF", config.softhsm_conf.c_str(), 1);

  // The IdP's keys, read again on SIGHUP and when one of their files changes (api/server.h).
  std::vector<std::string> key_files = config.idp_keys;
  if (!config.idp_jwks.empty()) key_files.push_back(config.idp_jwks);
  Result<std::unique_ptr<auth::VerifierSource>> verifier =
      auth::VerifierSource::Create([&config] { return MakeVerifier(config); }, key_files);
  if (!verifier.ok()) return Fatal(verifier.status().message());

  const Result<hsm::HsmConfig> hsm_config = vault::HsmConfigFor(config);
  if (!hsm_config.ok()) return Fatal(hsm_config.status().message());
  Result<std::unique_ptr<hsm::KeyService>> keys = hsm::KeyService::Open(*hsm_config);
  if (!keys.ok()) return Fatal("hsm: " + keys.status().message());
  LogHsmCapabilities(config, **keys);
  Result<std::unique_ptr<storage::Store>> store =
      storage::Store::Open(vault::StoreOptionsFor(config));
  if (!store.ok()) return Fatal("database: " + store.status().message());

  Result<std::uint32_t> master_version =
      vault::ReadMetaVersion(**store, vault::MetaKey::kActiveMasterKeyVersion);
  if (!master_version.ok()) return Fatal(master_version.status().message());
  Result<std::uint32_t> audit_version =
      vault::ReadMetaVersion(**store, vault::MetaKey::kAuditKeyVersion);
  if (!audit_version.ok()) return Fatal(audit_version.status().message());
  if (Result<hsm::KeyInfo> k = (*keys)->FindKey(hsm::KeyRole::kMaster, *master_version); !k.ok()) {
    return Fatal("hsm: master key v" + std::to_string(*master_version) + ": " +
                 k.status().message());
  }
  if (Result<hsm::KeyInfo> k = (*keys)->FindKey(hsm::KeyRole::kAudit, *audit_version); !k.ok()) {
    return Fatal("hsm: audit key v" + std::to_string(*audit_version) + ": " + k.status().message());
  }
  // The keys this release needs: created by `init` or, for a vault of the first release, by
  // `vaultctl upgrade` (never here: two nodes starting together would make two keys).
  Result<vault::ReleaseKeys> release_keys = vault::FindReleaseKeys(**store, **keys);
  if (!release_keys.ok()) {
    return Fatal(release_keys.status().message() + "; run: vaultctl upgrade --config " +
                 config_path);
  }

  vault::EscrowOptions options;
  options.checkin_window = config.checkin_window;
  options.key_display = config.key_display;
  options.rotate_after_retrieval = config.rotate_after_retrieval;
  options.daily_quota = config.daily_quota;
  options.mdm_rotation_command = config.mdm_rotation_command;
  options.keep_versions = config.keep_versions;
  options.event_keep_days = config.event_keep_days;
  options.mdm_rotation_commands_per_day = config.mdm_rotation_commands_per_day;
  options.rotation_deadline = config.rotation_deadline;
  for (const std::string& role : config.approval_roles) options.approval_roles.AddByName(role);
  options.approval_ttl = config.approval_ttl;
  options.verify_mismatches = config.verify_mismatches;
  options.audit_key_version = *audit_version;
  options.fingerprint_key_version = release_keys->fingerprint;
  options.state_key_version = release_keys->state;
  options.audit_batch_max = config.audit_batch_max;
  options.audit_checkpoint = [](const vault::AuditHead& head) {
    boost::json::object line;
    line["event"] = "audit_checkpoint";
    line["seq"] = head.seq;
    line["hash"] = head.hash;
    LogJson(line);
  };
  // Before a key leaves, the head that records it is kept on the token (a module without
  // data objects keeps none: said below, once).
  options.release_guard = [&keys = **keys](const vault::AuditHead& head) -> Status {
    Status kept = vault::KeepCheckpoint(keys, head);
    if (!kept.ok() && kept.reason() == hsm::kNoDataObjects) return Status::Ok();
    return kept;
  };
  // The service owns the commit pipeline; opening it checks the newest audit group's MAC.
  Result<std::unique_ptr<vault::EscrowService>> opened =
      vault::EscrowService::Open(**keys, **store, Clock::System(), std::move(options));
  if (!opened.ok()) return Fatal("audit: " + opened.status().message());
  vault::EscrowService& service = **opened;
  // An empty trail, or one shorter than the token's checkpoint, is a database that is not the
  // one the vault left (emptied, or an older copy restored): refused.
  Result<vault::StartHead> start =
      vault::CheckStartHead(**keys, **store, service.commits().head());
  if (!start.ok()) return Fatal(start.status().message());
  if (!start->token_keeps_checkpoints) {
    LogInfo("audit_checkpoint_not_kept",
            "this HSM module keeps no data objects: restoring an older copy of the whole "
            "database is not detected at start");
  }
  // GET /v1/health answers from this monitor's newest check, never from the HSM itself.
  service.StartHealthMonitor();
  // Overdue rotations are noted at start and every sweep_interval_seconds.
  service.StartOverdueSweep(config.sweep_interval);

  Result<std::unique_ptr<api::Server>> server =
      api::Server::Create(config, listen, service, verifier->get());
  if (!server.ok()) return Fatal(server.status().message());
  if (Status s = DropPrivileges(config.user); !s.ok()) return Fatal(s.message());
  // From here on a compromised parser can reach only the system calls the server needs.
  if (Status s = vault::InstallSeccomp(/*database_client=*/!config.db_url.empty()); !s.ok()) {
    return Fatal(s.message());
  }

  boost::json::object ready;
  ready["event"] = "ready";
  ready["listen"] = (*server)->listen_address();
  if (!hsm_config->node.empty()) ready["node"] = hsm_config->node;
  LogJson(ready);
  (*server)->Run();
  server->reset();
  LogInfo("stopped", "drained and stopped");
  return 0;
}

}  // namespace
}  // namespace escrow::tools

int main(int argc, char** argv) {
  try {
    return escrow::tools::Run(argc, argv);
  } catch (const std::exception& e) {
    escrow::LogError("fatal", e.what());
    return 1;
  }
}
