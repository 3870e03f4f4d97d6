// ops::BackupKeys and RestoreKeys called directly on a backup-capable vault made by vaultctl
// init (CtlFixture): 2-of-3 shares, the token lost, the keys restored and every record read.

#include "vault/ops/key_backup.h"

#include <filesystem>
#include <string>
#include <system_error>

#include "tests/tools/ctl_fixture.h"
#include "vault/config.h"

namespace escrow::ops {
namespace {

namespace fs = std::filesystem;
using escrow::testing::CtlFixture;
using escrow::testing::FileMode;

TEST_CASE("BackupKeys splits the keys into shares; RestoreKeys brings them back from two",
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
    CHECK(restored->restored == std::vector<std::string>{"escrow-master-v1", "escrow-audit-v1"});
    f.Open();
    for (std::size_t i = 0; i < 20; ++i) CHECK(f.Retrieve(i) == CtlFixture::KeyFor(i));
  }
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
