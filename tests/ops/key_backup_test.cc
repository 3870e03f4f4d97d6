// ops::BackupKeys and RestoreKeys called directly on a backup-capable vault made by vaultctl
// init (CtlFixture): 2-of-3 shares, the token lost, the keys restored and every record read.

#include "vault/ops/key_backup.h"
#include "vault/ops/keys_backup_file.h"

#include <filesystem>
#include <string>
#include <system_error>

#include "tests/support/softhsm_token.h"
#include "tests/support/temp_dir.h"
#include "tests/tools/ctl_fixture.h"
#include "vault/config.h"

namespace escrow::ops {
namespace {

namespace fs = std::filesystem;
using escrow::testing::CtlFixture;
using escrow::testing::FileMode;
using escrow::testing::SoftHsmToken;

// The labels and check values on a token, as "label check" lines.
std::vector<std::string> KeysOn(const hsm::HsmConfig& token) {
  Result<std::unique_ptr<hsm::KeyService>> keys = hsm::KeyService::Open(token);
  INFO(keys.status().ToString());
  REQUIRE(keys.ok());
  Result<std::vector<hsm::KeyInfo>> infos = (*keys)->ListKeys();
  REQUIRE(infos.ok());
  std::vector<std::string> out;
  for (const hsm::KeyInfo& info : *infos) out.push_back(info.label + " " + info.check_value);
  return out;
}

// A second node's view of the fixture's vault: the same database, its own token.
vault::VaultConfig NodeConfig(const vault::VaultConfig& config, const SoftHsmToken& token) {
  vault::VaultConfig node = config;
  node.hsm_token_label = token.label();
  node.hsm_pin_file = token.pin_file();
  return node;
}

// Generates `role` version `version`, backup-capable, on the token of `config`.
void Generate(const hsm::HsmConfig& token, hsm::KeyRole role, std::uint32_t version) {
  Result<std::unique_ptr<hsm::KeyService>> keys = hsm::KeyService::Open(token);
  REQUIRE(keys.ok());
  Result<hsm::KeyInfo> made = (*keys)->GenerateKey(role, version, true);
  INFO(made.status().ToString());
  REQUIRE(made.ok());
}

TEST_CASE("BackupKeys splits the keys into shares, and RestoreKeys brings them back from two",
          "[ops][backup][hsm]") {
  CtlFixture f;
  f.Open();
  f.Populate(0, 20);
  f.Close();
  Result<vault::VaultConfig> config = vault::LoadConfig(f.config());
  REQUIRE(config.ok());
  const std::string out = f.dir().str() + "/backup";
  const std::string so_pin = f.SoPinFile();

  Result<KeyBackupReport> backup = BackupKeys({*config, out, so_pin, 3, 2, {}});
  INFO(backup.status().ToString());
  REQUIRE(backup.ok());
  CHECK(backup->backup_id.size() == 32);
  CHECK(backup->keys_file == out + "/keys.backup");
  REQUIRE(backup->share_files.size() == 3);
  for (const std::string& share : backup->share_files) CHECK(FileMode(share) == 0600);
  CHECK(FileMode(out) == 0700);
  CHECK(backup->transcript.find("shares:          any 2 of 3") != std::string::npos);
  // The file says how its keys were wrapped (format v3), so another module can tell.
  const std::string text = escrow::testing::ReadFileBytes(backup->keys_file);
  CHECK_THAT(text, Catch::Contains(R"("format":"escrow-keys-backup-v3")"));
  CHECK_THAT(text, Catch::Contains(
                       R"("wrap":{"mechanism":"CKM_AES_KEY_WRAP_PAD","padding":"rfc5649"})"));
  SECTION("a file whose wrap method is not one a module uses does not parse") {
    std::string altered = text;
    const std::string from = R"("padding":"rfc5649")";
    altered.replace(altered.find(from), from.size(), R"("padding":"zeros")");
    CHECK(ParseKeysBackup(altered).status().code() == Code::kDataLoss);
  }

  SECTION("too few shares are refused before the token is touched") {
    Result<KeyRestoreReport> one =
        RestoreKeys({*config, backup->keys_file, {backup->share_files[0]}, so_pin});
    CHECK(one.status().code() == Code::kInvalidArgument);
  }
  SECTION("the token lost, two shares restore every key and the records read again") {
    std::error_code ec;
    fs::remove_all(f.token().token_dir(), ec);
    REQUIRE_FALSE(ec);
    Result<KeyRestoreReport> restored = RestoreKeys(
        {*config, backup->keys_file, {backup->share_files[0], backup->share_files[2]}, so_pin});
    INFO(restored.status().ToString());
    REQUIRE(restored.ok());
    CHECK(restored->backup_id == backup->backup_id);
    CHECK(restored->token_initialised);
    CHECK(restored->audited);
    CHECK(restored->restored == std::vector<std::string>{"escrow-master-v1", "escrow-audit-v1",
                                                       "escrow-fingerprint-v1",
                                                       "escrow-state-v1"});
    f.Open();
    for (std::size_t i = 0; i < 20; ++i) CHECK(f.Retrieve(i) == CtlFixture::KeyFor(i));
  }
}

TEST_CASE("RestoreKeys --add lets a second node's token follow key versions made on the first",
          "[ops][backup][hsm]") {
  CtlFixture f;  // node A: init made every role's v1, backup-capable
  Result<vault::VaultConfig> config = vault::LoadConfig(f.config());
  REQUIRE(config.ok());
  const std::string so_pin = f.SoPinFile();
  SoftHsmToken node_b_token;
  const vault::VaultConfig node_b = NodeConfig(*config, node_b_token);

  // Every role is in the backup, and a plain restore sets up node B's empty token.
  const std::string out1 = f.dir().str() + "/backup1";
  Result<KeyBackupReport> backup1 = BackupKeys({*config, out1, so_pin, 3, 2, {}});
  INFO(backup1.status().ToString());
  REQUIRE(backup1.ok());
  for (const char* label :
       {"escrow-master-v1", "escrow-audit-v1", "escrow-fingerprint-v1", "escrow-state-v1"}) {
    CHECK_THAT(backup1->transcript, Catch::Contains(std::string("  ") + label + "  check value"));
  }
  Result<KeyRestoreReport> first = RestoreKeys(
      {node_b, backup1->keys_file, {backup1->share_files[0], backup1->share_files[1]}, ""});
  INFO(first.status().ToString());
  REQUIRE(first.ok());
  CHECK(first->restored.size() == 4);
  CHECK(first->audited);  // the same audit key: node B continues the shared chain
  CHECK(KeysOn(node_b_token.config()) == KeysOn(f.token().config()));

  // Node A rotates its master key; its next backup holds v2 too.
  REQUIRE(f.Ctl("master-key rotate").exit_code == 0);
  const std::string out2 = f.dir().str() + "/backup2";
  Result<KeyBackupReport> backup2 = BackupKeys({*config, out2, so_pin, 3, 2, {}});
  REQUIRE(backup2.ok());
  const std::vector<std::string> shares2 = {backup2->share_files[2], backup2->share_files[0]};

  SECTION("without --add a token that holds vault keys is refused, naming --add") {
    Result<KeyRestoreReport> plain = RestoreKeys({node_b, backup2->keys_file, shares2, ""});
    CHECK(plain.status().code() == Code::kFailedPrecondition);
    CHECK_THAT(plain.status().message(), Catch::Contains("--add"));
  }
  SECTION("--add imports escrow-master-v2 only, audited; a second run imports nothing") {
    Result<KeyRestoreReport> added =
        RestoreKeys({node_b, backup2->keys_file, shares2, "", /*add=*/true});
    INFO(added.status().ToString());
    REQUIRE(added.ok());
    CHECK(added->restored == std::vector<std::string>{"escrow-master-v2"});
    CHECK(added->already_present == std::vector<std::string>{"escrow-master-v1", "escrow-audit-v1",
                                                             "escrow-fingerprint-v1",
                                                             "escrow-state-v1"});
    CHECK(added->audited);
    CHECK_THAT(added->transcript,
               Catch::Contains("keys imported:\n  escrow-master-v2  check value "));
    CHECK(KeysOn(node_b_token.config()) == KeysOn(f.token().config()));
    // What node A seals under v2, node B opens.
    {
      Result<std::unique_ptr<hsm::KeyService>> a = hsm::KeyService::Open(f.token().config());
      Result<std::unique_ptr<hsm::KeyService>> b = hsm::KeyService::Open(node_b_token.config());
      REQUIRE((a.ok() && b.ok()));
      const std::string aad = "node a to node b";
      Result<hsm::Sealed> sealed = (*a)->Encrypt(2, AsBytes(CtlFixture::KeyFor(7)), AsBytes(aad));
      REQUIRE(sealed.ok());
      Result<SecretBytes> opened = (*b)->Decrypt(2, *sealed, AsBytes(aad));
      REQUIRE(opened.ok());
      CHECK(opened->RevealSecretText() == CtlFixture::KeyFor(7));
    }
    Result<KeyRestoreReport> again =
        RestoreKeys({node_b, backup2->keys_file, shares2, "", /*add=*/true});
    REQUIRE(again.ok());
    CHECK(again->restored.empty());
    CHECK(again->already_present.size() == 5);
    CHECK_THAT(again->transcript,
               Catch::Contains("none: the token already holds every key of this backup"));
  }
  SECTION("--add refuses a token whose key under a label is another key, importing nothing") {
    // Both nodes made an escrow-fingerprint-v2 of their own; node A also made escrow-state-v2.
    Generate(f.token().config(), hsm::KeyRole::kFingerprint, 2);
    Generate(f.token().config(), hsm::KeyRole::kState, 2);
    Generate(node_b_token.config(), hsm::KeyRole::kFingerprint, 2);
    const std::vector<std::string> before = KeysOn(node_b_token.config());
    const std::string out3 = f.dir().str() + "/backup3";
    Result<KeyBackupReport> backup3 = BackupKeys({*config, out3, so_pin, 3, 2, {}});
    REQUIRE(backup3.ok());
    Result<KeyRestoreReport> refused =
        RestoreKeys({node_b,
                     backup3->keys_file,
                     {backup3->share_files[0], backup3->share_files[1]},
                     "",
                     /*add=*/true});
    CHECK(refused.status().code() == Code::kFailedPrecondition);
    CHECK_THAT(refused.status().message(), Catch::Contains("escrow-fingerprint-v2"));
    CHECK_THAT(refused.status().message(), Catch::Contains("nothing was imported"));
    CHECK(KeysOn(node_b_token.config()) == before);  // no escrow-master-v2, no escrow-state-v2
  }
}

TEST_CASE("RestoreKeys still restores a keys.backup of format v1, made before the second release",
          "[ops][backup][hsm]") {
  // tests/ops/testdata/keys-backup-v1/README.md says how it was made and what it holds.
  const fs::path data = fs::path(ESCROW_TESTDATA_DIR) / "keys-backup-v1";
  SoftHsmToken token;
  escrow::testing::TempDir dir;
  vault::VaultConfig config;
  config.hsm_token_label = token.label();
  config.hsm_pin_file = token.pin_file();
  config.db_path = dir.str() + "/no-such.db";  // keys only: nothing to audit into
  Result<KeyRestoreReport> restored =
      RestoreKeys({config,
                   (data / "keys.backup").string(),
                   {(data / "share-3").string(), (data / "share-1").string()},
                   ""});
  INFO(restored.status().ToString());
  REQUIRE(restored.ok());
  CHECK(restored->backup_id == "ba4aad6a7117e869ee7d3d9c86540739");
  CHECK_FALSE(restored->audited);
  CHECK(KeysOn(token.config()) == std::vector<std::string>{"escrow-master-v1 dea444",
                                                           "escrow-master-v2 f08536",
                                                           "escrow-audit-v1 600937"});
  // What the original token sealed and MACed, the restored keys open and verify.
  Result<std::unique_ptr<hsm::KeyService>> keys = hsm::KeyService::Open(token.config());
  REQUIRE(keys.ok());
  const std::string aad = "keys.backup v1 fixture";
  hsm::Sealed sealed;
  sealed.iv = *HexDecode("b28cf1e1bf2da7fb3fa61578");
  sealed.ciphertext = *HexDecode("752489f7a3437b73155329513ffa68f9a43cd18ba159fb8a964d56309e");
  sealed.tag = *HexDecode("72b6f7ae8ef6afc3c64c7294331f6bdc");
  Result<SecretBytes> opened = (*keys)->Decrypt(1, sealed, AsBytes(aad));
  INFO(opened.status().ToString());
  REQUIRE(opened.ok());
  CHECK(opened->RevealSecretText() == "ABCD-EFGH-IJKL-MNOP-QRST-UVWX");
  const Bytes mac = *HexDecode("bc6c8a597020d3970bd94b816be52ea0f82a8d41ae266af5aee29d1405f2d6e4");
  CHECK((*keys)->Verify(hsm::KeyRole::kAudit, 1, AsBytes(aad), mac).ok());
}

TEST_CASE("BackupKeys checks its counts and recipients before anything is created",
          "[ops][backup]") {
  vault::VaultConfig config;
  escrow::testing::TempDir dir;
  const std::string out = dir.str() + "/out";
  CHECK(BackupKeys({config, out, "", 3, 1, {}}).status().code() == Code::kInvalidArgument);
  CHECK(BackupKeys({config, out, "", 2, 3, {}}).status().code() == Code::kInvalidArgument);
  CHECK(BackupKeys({config, out, "", 3, 2, {"a.crt"}}).status().code() == Code::kInvalidArgument);
  CHECK_FALSE(fs::exists(out));
}

}  // namespace
}  // namespace escrow::ops
