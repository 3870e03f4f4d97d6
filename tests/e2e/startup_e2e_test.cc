#include <sys/stat.h>

#include <cstdlib>

#include <catch2/catch.hpp>

#include "tests/e2e/e2e_util.h"

namespace escrow::e2e {
namespace {

// The last line of the log: one JSON object naming the reason.
std::string LastLine(const std::string& log) {
  std::string s = log;
  while (!s.empty() && s.back() == '\n') s.pop_back();
  const std::size_t nl = s.rfind('\n');
  return nl == std::string::npos ? s : s.substr(nl + 1);
}

TEST_CASE("vaultd refuses to start on a bad state, with a one-line reason", "[e2e][startup]") {
  VaultProcess v;
  SECTION("a dev config on a non-loopback address") {
    CHECK_FALSE(v.Start({"--listen", "0.0.0.0:0"}));
    CHECK(v.start_exit_status() != 0);
    CHECK_THAT(LastLine(v.Log()), Catch::Contains(R"("event":"fatal")"));
    CHECK_THAT(LastLine(v.Log()), Catch::Contains("loopback"));
  }
  SECTION("a PIN file readable by others") {
    chmod((v.state() + "/hsm/user.pin").c_str(), 0644);
    CHECK_FALSE(v.Start());
    CHECK(v.start_exit_status() != 0);
    CHECK_THAT(LastLine(v.Log()), Catch::Contains("PIN file"));
  }
  SECTION("a TLS private key readable by the group") {
    chmod((v.state() + "/tls/server.key").c_str(), 0640);
    CHECK_FALSE(v.Start());
    CHECK(v.start_exit_status() != 0);
  }
  SECTION("a wrong PIN") {
    WriteFile(v.state() + "/hsm/user.pin", "000000000\n");
    CHECK_FALSE(v.Start());
    CHECK(v.start_exit_status() != 0);
    CHECK_THAT(LastLine(v.Log()), Catch::Contains(R"("event":"fatal")"));
  }
  SECTION("a missing master key") {
    // The database names master key v2, which the token does not hold.
    const std::string cmd = "sqlite3 '" + v.state() +
                            "/vault.db' \"UPDATE meta SET value='2' WHERE "
                            "key='active_master_key_version'\"";
    REQUIRE(Sh(cmd) == 0);
    CHECK_FALSE(v.Start());
    CHECK(v.start_exit_status() != 0);
    CHECK_THAT(LastLine(v.Log()), Catch::Contains("master key v2"));
  }
  SECTION("a missing token") {
    const std::string conf = v.state() + "/vault.conf";
    const std::string cmd =
        "sed -i 's/^token_label = .*/token_label = \"no-such-token\"/' '" + conf + "'";
    REQUIRE(Sh(cmd) == 0);
    CHECK_FALSE(v.Start());
    CHECK(v.start_exit_status() != 0);
    CHECK_THAT(LastLine(v.Log()), Catch::Contains("no-such-token"));
  }
  SECTION("a database that is not a vault database") {
    WriteFile(v.state() + "/vault.db", std::string(8192, 'x'));
    CHECK_FALSE(v.Start());
    CHECK(v.start_exit_status() != 0);
  }
  SECTION("a missing config") {
    WriteFile(v.state() + "/vault.conf", "this is = not toml [");
    CHECK_FALSE(v.Start());
    CHECK(v.start_exit_status() != 0);
    CHECK_THAT(LastLine(v.Log()), Catch::Contains(R"("event":"fatal")"));
  }
  // Each refusal is JSON lines only.
  std::string log = v.Log();
  std::size_t start = 0;
  while (start < log.size()) {
    std::size_t nl = log.find('\n', start);
    std::string line = log.substr(start, nl - start);
    if (!line.empty()) CHECK(line.front() == '{');
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
}

}  // namespace
}  // namespace escrow::e2e
