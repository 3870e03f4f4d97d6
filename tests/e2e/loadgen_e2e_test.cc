// The bench's load generator (bench/loadgen) against the real vaultd: what it counts is what
// the vault did, and it drives nothing but loopback.
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>
#include <string>

#include <boost/json/parse.hpp>

#include "tests/e2e/vault_process.h"
#include "tests/support/temp_dir.h"

namespace escrow::e2e {
namespace {

namespace json = boost::json;

std::string Quote(const std::string& s) { return "'" + s + "'"; }

// Runs `loadgen run` against `v` with `args`; returns its JSON result (REQUIREs success).
json::object Loadgen(const VaultProcess& v, const std::string& args) {
  const std::string out_path = v.tmp() + "/loadgen.json";
  const std::string cmd = std::string(ESCROW_LOADGEN_PATH) + " run --target 127.0.0.1:" +
                          std::to_string(v.port()) + " --state-dir " + Quote(v.state()) +
                          " --quiet --json " + Quote(out_path) + " " + args + " 2>&1";
  std::string out;
  const int rc = testing::RunCommand(cmd, &out);
  INFO(cmd << "\n" << out);
  REQUIRE(rc == 0);
  std::ifstream in(out_path);
  std::stringstream text;
  text << in.rdbuf();
  return json::parse(text.str()).as_object();
}

std::int64_t Int(const json::object& o, std::string_view key) {
  return o.at(key).to_number<std::int64_t>();
}

std::int64_t VersionCount(const VaultProcess& v, const std::string& id) {
  const HttpResult r = v.Mdm("GET", "/v1/devices/" + id);
  INFO(r.status << " " << r.body);
  REQUIRE(r.status == 200);
  return json::parse(r.body).as_object().at("key_version").to_number<std::int64_t>();
}

TEST_CASE("loadgen enrols, stores and retrieves through the real vaultd and counts what it did",
          "[e2e][loadgen]") {
  VaultProcess v;
  // As scripts/bench.sh does: a benchmark is not a brute-force attack.
  REQUIRE(testing::RunCommand("sed -i -E 's/^retrieve_per_user[[:space:]]*=.*/retrieve_per_user "
                              "= { count = 0, window_seconds = 60 }/' " +
                              Quote(v.state() + "/vault.conf")) == 0);
  REQUIRE(v.Start());
  const std::string devices = " --devices 5 --device-prefix lg-";

  const json::object enrol =
      Loadgen(v, "--mix enroll --owner alice --connections 2 --requests 5" + devices);
  CHECK(Int(enrol, "errors") == 0);
  // Each enrolment is an enrol, a check-in and a first key.
  for (int i = 0; i < 5; ++i) CHECK(VersionCount(v, "lg-00000" + std::to_string(i)) == 1);

  const json::object store = Loadgen(v, "--mix store --connections 3 --requests 30" + devices);
  CHECK(Int(store, "requests") == 30);
  CHECK(Int(store, "errors") == 0);
  CHECK(Int(store.at("ops").as_object().at("store").as_object(), "requests") == 30);
  std::int64_t versions = 0;
  for (int i = 0; i < 5; ++i) versions += VersionCount(v, "lg-00000" + std::to_string(i));
  CHECK(versions == 5 + 30);  // every store made a version (a fresh key each time)

  const std::string token_file = v.tmp() + "/token";
  std::ofstream(token_file) << v.Token("alice");
  const json::object retrieve =
      Loadgen(v, "--mix retrieve --connections 2 --requests 20 --token-file " +
                     Quote(token_file) + devices);
  CHECK(Int(retrieve, "requests") == 20);
  CHECK(Int(retrieve, "errors") == 0);
  CHECK(retrieve.at("latency").as_object().at("p50_ms").to_number<double>() > 0);

  SECTION("answers the vault refused are errors, by status") {
    std::ofstream(token_file) << v.Token("mallory");  // not the owner: 404 for every device
    const json::object denied =
        Loadgen(v, "--mix retrieve --connections 1 --requests 4 --token-file " +
                       Quote(token_file) + devices);
    CHECK(Int(denied, "errors") == 4);
    CHECK(Int(denied.at("ops").as_object().at("retrieve").as_object().at("statuses").as_object(),
              "404") == 4);
  }
}

TEST_CASE("loadgen refuses a target that is not loopback, before connecting", "[e2e][loadgen]") {
  testing::TempDir dir;
  std::string out;
  const int rc = testing::RunCommand(std::string(ESCROW_LOADGEN_PATH) +
                                         " run --target 192.0.2.1:443 --mix status --requests 1 2>&1",
                                     &out);
  INFO(out);
  CHECK(rc != 0);
  CHECK_THAT(out, Catch::Contains("loopback"));
}

}  // namespace
}  // namespace escrow::e2e
