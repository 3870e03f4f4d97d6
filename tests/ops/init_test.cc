// ops::Init called directly, production and dev, on real SoftHSMv2 tokens and SQLite files.

#include "vault/ops/init.h"

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include "storage/store.h"
#include "tests/support/softhsm_token.h"
#include "tests/support/temp_dir.h"
#include "tests/tools/tools_test_util.h"
#include "vault/config.h"
#include "vault/meta.h"
#include "vault/ops/audit_ops.h"
#include "vault/ops/vault_access.h"

namespace escrow::ops {
namespace {

namespace fs = std::filesystem;
using escrow::testing::FileMode;
using escrow::testing::ReadFileBytes;
using escrow::testing::SoftHsmToken;
using escrow::testing::TempDir;

ProductionInitOptions ProductionOptions(const SoftHsmToken& token, const fs::path& config) {
  ProductionInitOptions o;
  o.config = config.string();
  o.module = token.module_path();
  o.token_label = token.label();
  o.pin_file = token.pin_file();
  o.softhsm_conf = SoftHsmToken::conf_path().string();
  return o;
}

// A dev state on a token of its own in the process's shared SoftHSMv2 store (SoftHSMv2 reads
// one configuration per process: see tests/support/softhsm_token.h).
DevInitOptions DevOptions(const SoftHsmToken& token, const fs::path& state) {
  DevInitOptions o;
  o.state_dir = state;
  o.listen = "127.0.0.1:18443";
  o.token_label = token.label() + "-dev";
  o.shared_softhsm_conf = SoftHsmToken::conf_path().string();
  return o;
}

// The vault an init made, opened from the config it wrote.
OpenedVault OpenWritten(const fs::path& config_path, bool start_audit) {
  Result<vault::VaultConfig> config = vault::LoadConfig(config_path.string());
  REQUIRE(config.ok());
  Result<OpenedVault> opened = OpenVault(*config, start_audit);
  INFO(opened.status().ToString());
  REQUIRE(opened.ok());
  return std::move(*opened);
}

// The database holds the key versions and exactly one audit record, the ceremony's, which
// verifies in the HSM.
void ExpectAuditedInit(const fs::path& config_path, std::string_view mode) {
  OpenedVault v = OpenWritten(config_path, false);
  CHECK(vault::ReadMetaVersion(v.store(), vault::MetaKey::kActiveMasterKeyVersion).value() == 1);
  CHECK(vault::ReadMetaVersion(v.store(), vault::MetaKey::kAuditKeyVersion).value() == 1);
  Result<std::optional<storage::AuditRow>> last = storage::ReadValue(v.store(), [](storage::ReadTxn& rtx) { return rtx.audit().Last(); });
  REQUIRE(last.ok());
  REQUIRE(last->has_value());
  const storage::AuditRow& row = **last;
  CHECK(row.seq == 1);
  CHECK(row.action == "ceremony.init");
  CHECK(row.role == "operator");
  CHECK(row.outcome == "ok");
  CHECK(row.mac.has_value());
  const boost::json::object detail = boost::json::parse(row.detail).as_object();
  CHECK(detail.at("mode").as_string() == mode);
  CHECK(detail.at("keys").as_array().size() == 4);

  Result<vault::AuditVerifyReport> verified = VerifyAudit({}, v.view());
  REQUIRE(verified.ok());
  CHECK(verified->ok);
  CHECK(verified->head.seq == 1);
}

TEST_CASE("Production init generates the keys, writes config, database and transcript, audited",
          "[ops][init][hsm]") {
  SoftHsmToken token;
  TempDir dir;
  const fs::path config = dir.path() / "etc" / "vault.conf";
  ProductionInitOptions o = ProductionOptions(token, config);
  o.backup_capable = true;
  Result<InitReport> report = Init(o);
  INFO(report.status().ToString());
  REQUIRE(report.ok());
  CHECK(report->config == config);
  CHECK(report->db == dir.path() / "etc" / "vault.db");
  CHECK_FALSE(report->token_initialised);
  REQUIRE(report->keys.size() == 4);
  CHECK(report->keys[0].label == "escrow-master-v1");
  CHECK(report->keys[1].label == "escrow-audit-v1");
  CHECK(report->keys[2].label == "escrow-fingerprint-v1");
  CHECK(report->keys[3].label == "escrow-state-v1");
  CHECK(report->keys[3].extractable);  // the master key's rule, for every key
  CHECK(report->keys[0].extractable);
  CHECK(report->head.seq == 1);
  CHECK(ReadFileBytes(report->transcript_path) == report->transcript);
  CHECK(report->transcript.find("(adopted)") != std::string::npos);
  CHECK(report->transcript.find("active master key version: 1") != std::string::npos);
  CHECK(report->transcript.find("escrow-master-v1  role master  version 1  check value " +
                                report->keys[0].check_value) != std::string::npos);
  CHECK(FileMode(config) == 0600);
  Result<vault::VaultConfig> loaded = vault::LoadConfig(config.string());
  REQUIRE(loaded.ok());
  CHECK_FALSE(loaded->dev);
  CHECK(loaded->softhsm_conf == SoftHsmToken::conf_path().string());
  ExpectAuditedInit(config, "production");
}

TEST_CASE("Dev init writes its audit record with the key versions, and audit verify passes",
          "[ops][init][dev][hsm]") {
  SoftHsmToken token;
  TempDir dir;
  const fs::path state = dir.path() / "state";
  Result<InitReport> report = Init(DevOptions(token, state));
  INFO(report.status().ToString());
  REQUIRE(report.ok());
  CHECK(report->token_initialised);
  CHECK(report->config == state / "vault.conf");
  CHECK(ReadFileBytes(state / "ceremony" / "init.txt") == report->transcript);
  CHECK(report->transcript.find("init (development state)") != std::string::npos);
  CHECK(report->transcript.find("listen:          127.0.0.1:18443") != std::string::npos);
  CHECK(report->transcript.find("escrow-master-v1 role master") != std::string::npos);
  CHECK(FileMode(state) == 0700);
  Result<vault::VaultConfig> loaded = vault::LoadConfig((state / "vault.conf").string());
  REQUIRE(loaded.ok());
  CHECK(loaded->dev);
  CHECK(loaded->hsm_token_label == token.label() + "-dev");
  ExpectAuditedInit(state / "vault.conf", "dev");

  // The same ceremony's record in both modes: a started audit log continues the chain.
  OpenedVault v = OpenWritten(state / "vault.conf", true);
  CHECK(v.audit().head().seq == 1);
}

TEST_CASE("Production and dev init share the guard: a second init is refused in both modes",
          "[ops][init][guard][hsm]") {
  SoftHsmToken token;
  TempDir dir;

  SECTION("production: the same config, or the same token under a new config") {
    const fs::path config = dir.path() / "etc" / "vault.conf";
    REQUIRE(Init(ProductionOptions(token, config)).ok());
    const std::string before = ReadFileBytes(config);
    Result<InitReport> again = Init(ProductionOptions(token, config));
    CHECK(again.status().code() == Code::kAlreadyExists);
    CHECK(again.status().message().find("exists; init refuses") != std::string::npos);
    CHECK(ReadFileBytes(config) == before);
    const fs::path other = dir.path() / "other" / "vault.conf";
    Result<InitReport> other_config = Init(ProductionOptions(token, other));
    CHECK(other_config.status().code() == Code::kAlreadyExists);
    CHECK(other_config.status().message().find("already holds escrow-") != std::string::npos);
    CHECK_FALSE(fs::exists(other));
    CHECK_FALSE(fs::exists(dir.path() / "other" / "vault.db"));
    ExpectAuditedInit(config, "production");
  }
  SECTION("dev: the same state directory") {
    const fs::path state = dir.path() / "state";
    REQUIRE(Init(DevOptions(token, state)).ok());
    const std::string before = ReadFileBytes(state / "vault.conf");
    Result<InitReport> again = Init(DevOptions(token, state));
    CHECK(again.status().code() == Code::kAlreadyExists);
    CHECK(again.status().message().find("already initialised") != std::string::npos);
    CHECK(ReadFileBytes(state / "vault.conf") == before);
    ExpectAuditedInit(state / "vault.conf", "dev");
  }
  SECTION("production over a dev state's config") {
    const fs::path state = dir.path() / "state";
    REQUIRE(Init(DevOptions(token, state)).ok());
    Result<InitReport> over = Init(ProductionOptions(token, state / "vault.conf"));
    CHECK(over.status().code() == Code::kAlreadyExists);
    CHECK(over.status().message().find("exists; init refuses") != std::string::npos);
  }
}

TEST_CASE("A failed init leaves nothing behind and can simply run again",
          "[ops][init][guard][hsm]") {
  SoftHsmToken token;
  TempDir dir;
  const fs::path config = dir.path() / "etc" / "vault.conf";
  ProductionInitOptions o = ProductionOptions(token, config);
  // A database where none can be created: init fails after the keys exist.
  const fs::path blocker = dir.path() / "blocker";
  std::ofstream(blocker) << "a file, not a directory";
  o.db = (blocker / "vault.db").string();
  Result<InitReport> failed = Init(o);
  REQUIRE_FALSE(failed.ok());
  CHECK_FALSE(fs::exists(config));
  {
    Result<std::unique_ptr<hsm::KeyService>> keys = hsm::KeyService::Open(token.config());
    REQUIRE(keys.ok());
    CHECK((*keys)->ListKeys()->empty());  // the generated keys were destroyed
  }
  o.db.clear();
  Result<InitReport> again = Init(o);
  INFO(again.status().ToString());
  REQUIRE(again.ok());
  ExpectAuditedInit(config, "production");
}

TEST_CASE("Init checks its options before it creates anything", "[ops][init]") {
  TempDir dir;
  const fs::path state = dir.path() / "state";
  DevInitOptions dev;
  dev.state_dir = state;
  dev.listen = "0.0.0.0:8443";
  CHECK(Init(dev).status().code() == Code::kInvalidArgument);
  dev.listen = "127.0.0.1:notaport";
  CHECK(Init(dev).status().code() == Code::kInvalidArgument);
  CHECK_FALSE(fs::exists(state));
  ProductionInitOptions production;
  production.config = (dir.path() / "vault.conf").string();
  CHECK(Init(production).status().code() == Code::kInvalidArgument);
  CHECK_FALSE(fs::exists(dir.path() / "vault.conf"));
}

}  // namespace
}  // namespace escrow::ops
