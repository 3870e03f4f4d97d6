#include "hsm/token_sync.h"

#include <chrono>
#include <fstream>
#include <vector>

#include <catch2/catch.hpp>

#include "hsm/token_init.h"
#include "tests/hsm/key_service_fixture.h"
#include "tests/support/softhsm_token.h"
#include "tests/support/temp_dir.h"

namespace escrow::hsm {
namespace {

using escrow::testing::SoftHsmToken;
using escrow::testing::TempDir;

std::filesystem::path WriteConf(const TempDir& dir, const std::string& text) {
  const std::filesystem::path path = dir.path() / "softhsm2.conf";
  std::ofstream(path) << text;
  return path;
}

TEST_CASE("TokenDirFromConf reads directories.tokendir", "[hsm][sync]") {
  TempDir dir;
  CHECK(TokenDirFromConf(WriteConf(dir, "# comment\n  directories.tokendir =  /var/x/tokens/ \n"
                                        "objectstore.backend = file\n")) ==
        std::filesystem::path("/var/x/tokens/"));
  CHECK_FALSE(TokenDirFromConf(WriteConf(dir, "# directories.tokendir = /commented\n")));
  CHECK_FALSE(TokenDirFromConf(WriteConf(dir, "directories.tokendir =\n")));
  CHECK_FALSE(TokenDirFromConf(dir.path() / "missing.conf"));
}

TEST_CASE("SoftHsmTokenDir follows SOFTHSM2_CONF and syncs the token directory",
          "[hsm][sync]") {
  ESCROW_SKIP_ON_NSS("SoftHSMv2's file store");
  SoftHsmToken token;
  REQUIRE(SoftHsmTokenDir() == SoftHsmToken::tokens_root());
  CHECK(SyncSoftHsmTokenDir().ok());
  Result<std::string> serial = TokenSerial(token.module_path(), token.label());
  REQUIRE(serial.ok());
  CHECK(serial->size() == 16);
  CHECK(SyncSoftHsmTokenDir(*serial).ok());          // just this token's directory
  CHECK(SyncSoftHsmTokenDir("no-such-serial").ok());  // falls back to all of them
}

TEST_CASE("A token sync after a snapshot plans only what changed since", "[hsm][sync]") {
  ESCROW_SKIP_ON_NSS("SoftHSMv2's file store");
  SoftHsmToken token;
  Result<std::string> serial = TokenSerial(token.module_path(), token.label());
  REQUIRE(serial.ok());
  TokenSnapshot before = SnapshotSoftHsmToken(*serial);
  REQUIRE_FALSE(before.dir.empty());
  REQUIRE(before.ctimes.count(before.dir / "token.object") == 1);
  // As if the snapshot had been taken well after the token was made.
  before.taken += std::chrono::hours(1);
  Result<SyncPlan> unchanged = PlanTokenSync(before);
  REQUIRE(unchanged.ok());
  CHECK(unchanged->files.empty());
  CHECK(unchanged->directories.empty());

  std::ofstream(before.dir / "new.object") << "new";  // a new entry: the file and its directory
  Result<SyncPlan> added = PlanTokenSync(before);
  REQUIRE(added.ok());
  CHECK(added->files == std::vector<std::filesystem::path>{before.dir / "new.object"});
  CHECK(added->directories == std::vector<std::filesystem::path>{before.dir});

  // A file whose ctime moved (rewritten in place) is planned; one merely recent is too.
  before.ctimes[before.dir / "token.object"] -= std::chrono::seconds(1);
  Result<SyncPlan> rewritten = PlanTokenSync(before);
  REQUIRE(rewritten.ok());
  CHECK(rewritten->files.size() == 2);
  before.taken = std::chrono::system_clock::now();
  before.ctimes[before.dir / "token.object"] += std::chrono::seconds(1);
  Result<SyncPlan> recent = PlanTokenSync(before);
  REQUIRE(recent.ok());
  CHECK(recent->files.size() >= 2);  // new.object, and anything stamped in the slack

  CHECK(SyncSoftHsmTokenChanges(before, *serial).ok());
  CHECK(SyncSoftHsmTokenChanges(SnapshotSoftHsmToken("no-such-serial"), "no-such-serial").ok());
}

}  // namespace
}  // namespace escrow::hsm
