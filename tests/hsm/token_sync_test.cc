#include "hsm/token_sync.h"

#include <catch2/catch.hpp>

#include <fstream>

#include "hsm/token_init.h"
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
  SoftHsmToken token;
  REQUIRE(SoftHsmTokenDir() == SoftHsmToken::tokens_root());
  CHECK(SyncSoftHsmTokenDir().ok());
  Result<std::string> serial = TokenSerial(token.module_path(), token.label());
  REQUIRE(serial.ok());
  CHECK(serial->size() == 16);
  CHECK(SyncSoftHsmTokenDir(*serial).ok());          // just this token's directory
  CHECK(SyncSoftHsmTokenDir("no-such-serial").ok());  // falls back to all of them
}

}  // namespace
}  // namespace escrow::hsm
