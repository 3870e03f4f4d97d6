// Issue 13: keys come from ceremonies only. vaultd refuses to start, naming `vaultctl upgrade`,
// on a database that names no fingerprint or state key (a first-release vault) or whose key
// the token lacks; `vaultctl upgrade` makes what is missing, audited, and vaultd starts.
#include <catch2/catch.hpp>

#include "tests/e2e/e2e_util.h"

namespace escrow::e2e {
namespace {

TEST_CASE("vaultd refuses a vault without the release's keys, naming vaultctl upgrade, which "
          "makes them",
          "[e2e][upgrade]") {
  VaultProcess v;
  REQUIRE(v.Start());
  v.Enrol("mac1", "alice@example.com", "corporate");
  const std::string alice = v.Token("alice@example.com");
  REQUIRE(v.As(alice, "PUT", "/v1/devices/mac1/recovery-key", KeyBody(kMacKey1, kMacKey1))
              .status == 200);
  REQUIRE(v.Stop() == 0);
  const std::string db = Quote(v.state() + "/vault.db");
  const std::string conf = Quote(v.state() + "/vault.conf");

  SECTION("a database that names no state key (a first-release vault)") {
    REQUIRE(Sh("sqlite3 " + db + " \"DELETE FROM meta WHERE key = 'state_key_version'\"") == 0);
  }
  SECTION("a state key the token lacks") {
    // Named v2, which no ceremony made; records MACed under v1 name their own key version.
    REQUIRE(Sh("sqlite3 " + db +
               " \"UPDATE meta SET value = '2' WHERE key = 'state_key_version'\"") == 0);
  }
  CHECK_FALSE(v.Start());
  CHECK(v.start_exit_status() != 0);
  CHECK_THAT(v.Log(), Catch::Contains("vaultctl upgrade --config"));

  std::string out;
  REQUIRE(Sh(Quote(VaultctlPath()) + " upgrade --config " + conf, &out) == 0);
  CHECK_THAT(out, Catch::Contains("upgrade"));
  REQUIRE(v.Start());
  // The key stored before is released as it was, and the ceremony is in the trail.
  HttpResult r = v.As(alice, "POST", "/v1/devices/mac1/recovery-key/retrieve", "{}");
  REQUIRE(r.status == 200);
  CHECK(Json(r.body).at("recovery_key") == kMacKey1);
  r = v.As(v.Token("aud@example.com", "--roles auditor"), "GET", "/v1/audit?limit=1000");
  REQUIRE(r.status == 200);
  CHECK_THAT(r.body, Catch::Contains("ceremony.upgrade"));
  // A second run finds nothing missing and records nothing.
  REQUIRE(v.Stop() == 0);
  REQUIRE(Sh(Quote(VaultctlPath()) + " upgrade --config " + conf, &out) == 0);
  CHECK_THAT(out, Catch::Contains("versions fingerprinted: 0"));
  CHECK_THAT(out, Catch::Contains("device state records written: 0"));
}

}  // namespace
}  // namespace escrow::e2e
