#include <filesystem>

#include "tests/support/nss_softoken.h"
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

TEST_CASE("init --token takes a PKCS#11 URI and --init-args, and writes both into the config",
          "[tools][ctl][init][hsm][uri]") {
  SoftHsmToken token;
  TempDir dir;
  const std::string uri = "pkcs11:token=" + token.label() + ";manufacturer=SoftHSM%20project";
  const std::string base = ShellQuote(VAULTCTL_PATH) + " init --config " + dir.str() +
                           "/vault.conf --module " + token.module_path() + " --pin-file " +
                           ShellQuote(token.pin_file());
  std::string out;
  SECTION("refused: both names, a PIN in the URI, an unknown attribute") {
    CHECK(RunCommand(base + " --token-label " + ShellQuote(token.label()) + " --token " +
                         ShellQuote(uri) + " 2>&1",
                     &out) != 0);
    CHECK(out.find("not both") != std::string::npos);
    out.clear();
    CHECK(RunCommand(base + " --token " + ShellQuote(uri + ";pin-value=1234") + " 2>&1", &out) ==
          1);
    CHECK(out.find("pin-value carries a PIN") != std::string::npos);
    CHECK(out.find("1234") == std::string::npos);
    out.clear();
    CHECK(RunCommand(base + " --token " + ShellQuote("pkcs11:label=x") + " 2>&1", &out) == 1);
    CHECK(out.find("unknown attribute label") != std::string::npos);
    CHECK_FALSE(fs::exists(dir.str() + "/vault.conf"));
  }
  SECTION("adopted by URI") {
    REQUIRE(RunCommand(base + " --token " + ShellQuote(uri) + " 2>&1", &out) == 0);
    CHECK(out.find("(adopted)") != std::string::npos);
    Result<vault::VaultConfig> config = vault::LoadConfig(dir.str() + "/vault.conf");
    REQUIRE(config.ok());
    CHECK(config->hsm_token_label.empty());
    CHECK(config->hsm_token_uri == uri);
    CHECK(config->hsm_init_args.empty());
  }
  SECTION("SoftHSMv2 refuses init_args (pReserved must be NULL there), and says so") {
    CHECK(RunCommand(base + " --token " + ShellQuote(uri) + " --init-args x 2>&1", &out) == 1);
    CHECK(out.find("C_Initialize: CKR_ARGUMENTS_BAD") != std::string::npos);
    CHECK_FALSE(fs::exists(dir.str() + "/vault.conf"));
  }
}

TEST_CASE("init on NSS's softoken writes the token URI and init_args into the config",
          "[tools][ctl][init][nss]") {
  if (!NssSoftoken::Available()) {
    WARN("SKIPPED: " << NssSoftoken::kModulePath << " is not installed (libnss3)");
    return;
  }
  const escrow::testing::ChildrenSkipLeakCheck no_leak_check;  // NSS in vaultctl and vaultd
  NssSoftoken nss;
  TempDir dir;
  std::string out;
  REQUIRE(RunCommand(ShellQuote(VAULTCTL_PATH) + " init --config " + dir.str() +
                         "/vault.conf --module " + nss.module_path() + " --token " +
                         ShellQuote(nss.token_uri()) + " --init-args " +
                         ShellQuote(nss.init_args()) + " --pin-file " + ShellQuote(nss.pin_file()) +
                         " 2>&1",
                     &out) == 0);
  INFO(out);
  CHECK(out.find("token label:     NSS Certificate DB") != std::string::npos);
  CHECK(out.find("(GCM tag of a fixed block)") != std::string::npos);
  Result<vault::VaultConfig> config = vault::LoadConfig(dir.str() + "/vault.conf");
  REQUIRE(config.ok());
  CHECK(config->hsm_token_uri == nss.token_uri());
  CHECK(config->hsm_init_args == nss.init_args());
  CHECK(config->hsm_module == nss.module_path());

  // The checkpoint signing key (ECDSA P-256) is made there too.
  std::string sign_out;
  CHECK(RunCommand(ShellQuote(VAULTCTL_PATH) + " audit-signing-key create --config " +
                       ShellQuote(dir.str() + "/vault.conf") + " 2>&1",
                   &sign_out) == 0);
  INFO(sign_out);

  // Backup needs an SO, which NSS's softoken does not have: refused before any SO PIN.
  std::string backup_out;
  const int backup_exit =
      RunCommand(ShellQuote(VAULTCTL_PATH) + " master-key backup --config " +
                     ShellQuote(dir.str() + "/vault.conf") + " --out " +
                     ShellQuote(dir.str() + "/backup") + " --threshold 2 --shares 3 2>&1",
                 &backup_out);
  INFO(backup_out);
  CHECK(backup_exit == 1);
  CHECK(backup_out.find("no security officer") != std::string::npos);
  CHECK(backup_out.find("SO PIN") == std::string::npos);
}

}  // namespace
}  // namespace escrow::testing
