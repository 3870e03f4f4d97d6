// The one init path. Order: options, claims (nothing exists yet), token, keys, the mode's
// files, the database with its key versions written in the audited "ceremony.init"
// transaction, the config (read back through the loader), the transcript; on any failure
// the guard undoes it all.

#include "vault/ops/init.h"

#include <memory>

#include <boost/json.hpp>
#include <system_error>
#include <utility>

#include "base/clock.h"
#include "vault/config.h"
#include "vault/meta.h"
#include "vault/ops/ceremony_record.h"
#include "vault/ops/escrow_cert.h"
#include "vault/ops/files.h"
#include "vault/ops/init_guard.h"
#include "vault/ops/init_mode.h"
#include "vault/ops/init_transcript.h"
#include "vault/ops/vault_access.h"

namespace escrow::ops {

// Defined in init_production.cc and init_dev.cc.
std::unique_ptr<InitMode> ProductionInitMode(const ProductionInitOptions& options);
std::unique_ptr<InitMode> DevInitMode(const DevInitOptions& options);

namespace {

namespace fs = std::filesystem;

// The database, created, with its first audit record: the ceremony, whose transaction also
// writes the key versions and the first escrow certificate (so no key version or certificate
// is ever unaudited). The escrow keys are made in the HSM before it (PrepareEscrowCert).
struct CreatedDatabase {
  vault::AuditHead head;
  EscrowCertReport escrow;
};

Result<CreatedDatabase> CreateDatabase(hsm::KeyService& keys, const fs::path& db,
                                       std::string detail) {
  ESCROW_ASSIGN_OR_RETURN(std::unique_ptr<storage::Store> store, OpenStore(db.string(), true));
  const std::unique_ptr<vault::CommitPipeline> audit = NewCommitPipeline(keys, *store, 1);
  ESCROW_RETURN_IF_ERROR(audit->Start());
  ESCROW_ASSIGN_OR_RETURN(const PreparedEscrowCert escrow,
                          PrepareEscrowCert(EscrowCertOptions{}, keys, *store));
  boost::json::value parsed = boost::json::parse(detail);
  if (boost::json::object* fields = parsed.if_object()) {
    (*fields)["escrow_certificate"] = boost::json::parse(escrow.detail);
  }
  auto record = [&escrow](storage::WriteTxn& txn) -> Status {
    for (const vault::MetaKey key :
         {vault::MetaKey::kActiveMasterKeyVersion, vault::MetaKey::kAuditKeyVersion,
          vault::MetaKey::kFingerprintKeyVersion, vault::MetaKey::kStateKeyVersion}) {
      ESCROW_RETURN_IF_ERROR(vault::WriteMetaVersion(txn, key, 1));
    }
    return RecordEscrowCert(txn, escrow);
  };
  ESCROW_RETURN_IF_ERROR(
      RecordCeremony(*audit, "ceremony.init", boost::json::serialize(parsed), record));
  return CreatedDatabase{audit->head(), escrow.report};
}

Result<InitReport> RunInit(InitMode& mode) {
  const std::string operator_name = OperatorName();
  ESCROW_RETURN_IF_ERROR(mode.CheckOptions());
  const InitPaths paths = mode.paths();
  ESCROW_RETURN_IF_ERROR(RefuseClaimed(mode.Claims()));

  std::unique_ptr<hsm::KeyService> keys;  // the guard closes it before removing files
  InitGuard guard;
  InitReport report;
  ESCROW_ASSIGN_OR_RETURN(report.token_initialised, mode.PrepareToken(guard));
  ESCROW_ASSIGN_OR_RETURN(keys, OpenKeys(mode.Hsm()));
  guard.Keys(&keys, mode.TokenOutlivesFailure());
  ESCROW_RETURN_IF_ERROR(RefuseExistingKeys(*keys, mode.token_label()));
  // Every key the vault uses, each with one job (DESIGN.md), created here and only by
  // ceremonies: vaultd never creates a key.
  for (const hsm::KeyRole role : {hsm::KeyRole::kMaster, hsm::KeyRole::kAudit,
                                  hsm::KeyRole::kFingerprint, hsm::KeyRole::kState}) {
    Result<hsm::KeyInfo> info = keys->GenerateKey(role, 1, mode.backup_capable());
    if (!info.ok()) return info.status().WithContext("generating the " + RoleName(role) + " key");
    guard.Generated(*info);
    report.keys.push_back(std::move(*info));
  }
  report.token = keys->token();
  ESCROW_RETURN_IF_ERROR(mode.CreateFiles(guard));

  std::error_code ec;
  fs::create_directories(paths.config.parent_path(), ec);
  fs::create_directories(paths.db.parent_path(), ec);
  guard.File(paths.db);
  for (const char* suffix : {"-wal", "-shm", "-journal"}) guard.File(paths.db.string() + suffix);
  ESCROW_ASSIGN_OR_RETURN(CreatedDatabase created,
                          CreateDatabase(*keys, paths.db,
                                         InitCeremonyDetail(mode.dev(), mode.module(), report.token,
                                                            report.token_initialised,
                                                            mode.backup_capable(), report.keys)));
  report.head = created.head;
  report.escrow = std::move(created.escrow);

  // The config last but one: its presence marks the vault as initialised.
  guard.File(paths.config);
  ESCROW_RETURN_IF_ERROR(WriteNewPrivateFile(paths.config, vault::RenderConfig(mode.Config())));
  // What vaultd will read must be what was meant: read it back through the same loader.
  if (Result<vault::VaultConfig> loaded = vault::LoadConfig(paths.config.string()); !loaded.ok()) {
    return loaded.status().WithContext("the written config does not load");
  }

  InitTranscript t;
  t.dev = mode.dev();
  t.time = FormatRfc3339(Clock::System().Now());
  t.operator_name = operator_name;
  t.host = HostName();
  t.module = mode.module();
  t.token = report.token;
  t.backup_capable = mode.backup_capable();
  t.module_cannot = keys->capabilities().Missing();
  t.keys = report.keys;
  t.head = report.head;
  t.escrow_certificate = "serial " + report.escrow.certificate.serial_hex + "  sha256 " +
                         report.escrow.certificate.sha256_hex;
  mode.Describe(t);
  report.transcript = RenderInitTranscript(t);
  fs::create_directories(paths.transcript.parent_path(), ec);
  ESCROW_RETURN_IF_ERROR(WriteNewPrivateFile(paths.transcript, report.transcript));
  report.config = paths.config;
  report.db = paths.db;
  report.transcript_path = paths.transcript;
  guard.Commit();
  return report;
}

}  // namespace

Result<InitReport> Init(const ProductionInitOptions& options) {
  std::unique_ptr<InitMode> mode = ProductionInitMode(options);
  return RunInit(*mode);
}

Result<InitReport> Init(const DevInitOptions& options) {
  std::unique_ptr<InitMode> mode = DevInitMode(options);
  return RunInit(*mode);
}

}  // namespace escrow::ops
