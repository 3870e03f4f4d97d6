#include <catch2/catch.hpp>

#include <thread>

#include "tests/e2e/e2e_util.h"

namespace escrow::e2e {
namespace {

TEST_CASE("SIGTERM lets in-flight requests complete, then vaultd exits 0", "[e2e][drain]") {
  VaultProcess v;
  REQUIRE(v.Start());
  constexpr int kDevices = 6;
  for (int i = 0; i < kDevices; ++i) v.Enrol("mac" + std::to_string(i), "alice@example.com", "corporate");
  const std::string alice = v.Token("alice@example.com");

  // Slow uploads (curl limited to 2 KB/s on a ~5 KB body): in flight when the signal comes.
  std::string cmds;
  for (int i = 0; i < kDevices; ++i) {
    const std::string body = R"({"recovery_key":")" + std::string(kMacKey1) +
                             R"(","confirm_recovery_key":")" + kMacKey1 + R"(","pad":")" +
                             std::string(5000, 'p') + "\"}";
    const std::string in = v.tmp() + "/slow" + std::to_string(i) + ".json";
    WriteFile(in, body);
    cmds += "curl -sS --max-time 60 --limit-rate 2K -o /dev/null -w '%{http_code}\\n' --cacert " +
            Quote(v.CaFile()) + " --cert " + Quote(v.ClientCert("portal")) + " --key " +
            Quote(v.ClientKey("portal")) + " -H " + Quote("Authorization: Bearer " + alice) +
            " -H 'Content-Type: application/json' -X PUT --data-binary @" + Quote(in) + " " +
            Quote(v.Url("/v1/devices/mac" + std::to_string(i) + "/recovery-key")) + " >> " +
            Quote(v.tmp() + "/codes") + " 2>&1 & ";
  }
  cmds += "wait";
  std::thread clients([&] { Sh(cmds); });
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  const int rc = v.Stop(15);
  clients.join();
  CHECK(rc == 0);
  const std::string codes = testing::ReadFileBytes(v.tmp() + "/codes");
  CAPTURE(codes);
  int ok = 0;
  for (std::size_t at = 0; (at = codes.find("200", at)) != std::string::npos; ++at) ++ok;
  CHECK(ok == kDevices);

  // Nothing was lost: every key is there after a restart, and the audit chain verifies.
  REQUIRE(v.Start());
  for (int i = 0; i < kDevices; ++i) {
    HttpResult r = v.As(alice, "GET", "/v1/devices/mac" + std::to_string(i));
    REQUIRE(r.status == 200);
    CHECK(Json(r.body).at("key_version") == 1);
  }
  const std::string admin = v.Token("root@example.com", "--roles admin");
  HttpResult r = v.As(admin, "GET", "/v1/audit/verify");
  CHECK(Json(r.body).at("ok") == true);
  CHECK(v.Log().find(R"("event":"drained")") != std::string::npos);
  CHECK(v.Stop() == 0);
}

TEST_CASE("SIGTERM closes idle keep-alive connections at once", "[e2e][drain]") {
  VaultProcess v;
  REQUIRE(v.Start());
  // An idle TLS connection (handshake done, no request) must not hold up the exit.
  std::thread idle([&] {
    Sh("sleep 5 | openssl s_client -quiet -connect 127.0.0.1:" + std::to_string(v.port()) +
       " -CAfile " + Quote(v.CaFile()) + " >/dev/null 2>&1");
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(v.Stop(15) == 0);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(4));
  idle.join();
}

}  // namespace
}  // namespace escrow::e2e
