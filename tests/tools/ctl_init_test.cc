#include <filesystem>

#include "tests/tools/ctl_fixture.h"
#include "vault/config.h"

namespace escrow::testing {
namespace {

namespace fs = std::filesystem;

TEST_CASE("init --config adopts a token, generates the keys and prints a saved transcript",
          "[tools][ctl][init][hsm]") {
  CtlFixture f;
  const std::string& t = f.init_transcript();
  CHECK(t.find("token label:     " + f.token().label()) != std::string::npos);
  CHECK(t.find("token serial:") != std::string::npos);
  CHECK(t.find("module:          /usr/lib/softhsm/libsofthsm2.so") != std::string::npos);
  CHECK(t.find("operator:") != std::string::npos);
  CHECK(t.find("escrow-master-v1  role master  version 1  check value ") != std::string::npos);
  CHECK(t.find("escrow-audit-v1  role audit  version 1  check value ") != std::string::npos);
  CHECK(t.find("(adopted)") != std::string::npos);
  const fs::path dir = fs::path(f.config()).parent_path();
  CHECK(ReadFileBytes(dir / "ceremony" / "init.txt") == t);
  CHECK(FileMode(f.config()) == 0600);
  Result<vault::VaultConfig> config = vault::LoadConfig(f.config());
  REQUIRE(config.ok());
  CHECK_FALSE(config->dev);
  CHECK(config->hsm_token_label == f.token().label());
  CHECK(config->softhsm_conf == SoftHsmToken::conf_path().string());

  // The check values in the transcript are the token's CKA_CHECK_VALUE.
  f.Open();
  for (const hsm::KeyInfo& k : f.TokenKeys()) {
    CHECK(t.find(k.label + "  role") != std::string::npos);
    CHECK(t.find("check value " + k.check_value) != std::string::npos);
    CHECK(k.extractable);  // --backup-capable
  }
  f.Close();

  CtlRun status = f.Ctl("status");
  INFO(status.err);
  REQUIRE(status.exit_code == 0);
  CHECK(status.out.find("active master key version: 1") != std::string::npos);
  CHECK(status.out.find("audit head:     1:") != std::string::npos);
  CHECK(status.out.find("schema version:") != std::string::npos);
  CHECK(status.out.find("last db backup: never") != std::string::npos);
}

TEST_CASE("init twice is refused", "[tools][ctl][init][hsm]") {
  CtlFixture f;
  const std::string before = ReadFileBytes(f.config());
  const std::string args = " --module " + f.token().module_path() + " --token-label " +
                           ShellQuote(f.token().label()) + " --pin-file " +
                           ShellQuote(f.token().pin_file());
  SECTION("on the same config") {
    CtlRun r = f.Run("init --config " + ShellQuote(f.config()) + args);
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("exists; init refuses") != std::string::npos);
    CHECK(ReadFileBytes(f.config()) == before);
  }
  SECTION("on the same token with a new config") {
    const std::string other = f.dir().str() + "/other/vault.conf";
    CtlRun r = f.Run("init --config " + ShellQuote(other) + args);
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("already holds escrow-") != std::string::npos);
    CHECK_FALSE(fs::exists(other));
    CHECK_FALSE(fs::exists(f.dir().str() + "/other/vault.db"));
  }
}

TEST_CASE("init initialises a missing token with --so-pin-file, else explains",
          "[tools][ctl][init][hsm]") {
  SoftHsmToken token;  // for the process-wide SoftHSMv2 config and a PIN file
  TempDir dir;
  const std::string label = token.label() + "-new";
  const std::string so = token.WriteFile("new-so.pin", "new-so-pin");
  const std::string base = ShellQuote(VAULTCTL_PATH) + " init --config " + dir.str() +
                           "/vault.conf --module " + token.module_path() + " --token-label " +
                           ShellQuote(label) + " --pin-file " + ShellQuote(token.pin_file());
  std::string out;
  CHECK(RunCommand(base + " 2>&1", &out) == 1);
  CHECK(out.find("--so-pin-file") != std::string::npos);
  out.clear();
  REQUIRE(RunCommand(base + " --so-pin-file " + ShellQuote(so) + " --db " + dir.str() +
                         "/data/vault.db 2>&1",
                     &out) == 0);
  CHECK(out.find("(initialised by this ceremony)") != std::string::npos);
  CHECK(out.find("never extractable") != std::string::npos);
  CHECK(fs::exists(dir.str() + "/data/vault.db"));
}

}  // namespace
}  // namespace escrow::testing
