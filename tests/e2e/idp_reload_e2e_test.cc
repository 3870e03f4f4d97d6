// Issue 19: an IdP key rotation never locks users out. The real vaultd re-reads its IdP keys
// when their file changes and on SIGHUP; a file that fails to load keeps the old keys and the
// log says why.
#include <signal.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

#include "auth/base64url.h"
#include "tests/e2e/e2e_util.h"

namespace escrow::e2e {
namespace {

// The token `v` accepts for alice, signed by `key_pem` with the dev token's header and claims.
std::string SignedBy(const VaultProcess& v, const std::string& key_pem) {
  const std::string good = v.Token("alice@example.com");
  const std::size_t a = good.find('.');
  const std::size_t b = good.find('.', a + 1);
  return SignEs256(*auth::Base64UrlDecodeToString(good.substr(0, a)),
                   *auth::Base64UrlDecodeToString(good.substr(a + 1, b - a - 1)), key_pem);
}

// Replaces `path` as a key sync job would: written beside, renamed over.
void Replace(const std::string& path, const std::string& from) {
  REQUIRE(Sh("cp " + Quote(from) + " " + Quote(path + ".new") + " && mv " + Quote(path + ".new") +
             " " + Quote(path)) == 0);
}

int StatusWith(const VaultProcess& v, const std::string& token) {
  return v.As(token, "GET", "/v1/devices/mac1").status;
}

// Polls until `token` gets `want` (the watcher looks every 2 s); the last status seen.
int AwaitStatus(const VaultProcess& v, const std::string& token, int want) {
  int got = 0;
  for (int i = 0; i < 100 && (got = StatusWith(v, token)) != want; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return got;
}

std::size_t Count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) {
    ++n;
  }
  return n;
}

TEST_CASE("vaultd takes a rotated IdP key without a restart and keeps the old on a broken file",
          "[e2e][token][reload]") {
  VaultProcess v;
  REQUIRE(v.Start());
  v.Enrol("mac1", "alice@example.com", "corporate");
  const std::string pub = v.state() + "/idp/dev-signing.pub";
  const std::string old_key = v.state() + "/idp/dev-signing.key";
  const std::string new_key = v.tmp() + "/rotated.key";
  const std::string new_pub = v.tmp() + "/rotated.pub";
  REQUIRE(Sh("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out " +
             Quote(new_key) + " && openssl pkey -in " + Quote(new_key) + " -pubout -out " +
             Quote(new_pub)) == 0);
  const std::string old_token = SignedBy(v, old_key);
  const std::string new_token = SignedBy(v, new_key);
  REQUIRE(StatusWith(v, old_token) == 200);
  REQUIRE(StatusWith(v, new_token) == 401);

  // The IdP rotates: the file is replaced, vaultd takes it within seconds, no restart.
  Replace(pub, new_pub);
  CHECK(AwaitStatus(v, new_token, 200) == 200);
  CHECK(StatusWith(v, old_token) == 401);  // not accepted from the old keys' cache
  CHECK(v.Log().find(R"("event":"idp_keys_reloaded","trigger":"file_changed")") !=
        std::string::npos);

  // A broken file: logged, and the working keys stay.
  const std::string broken = v.tmp() + "/broken.pub";
  WriteFile(broken, "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n");
  Replace(pub, broken);
  std::string log;
  for (int i = 0; i < 100 && (log = v.Log()).find("idp_keys_reload_failed") == std::string::npos;
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(log.find(R"("event":"idp_keys_reload_failed","trigger":"file_changed")") !=
        std::string::npos);
  CHECK(log.find("the previous keys stay in use") != std::string::npos);
  CHECK(StatusWith(v, new_token) == 200);

  // SIGHUP (systemd's ExecReload) reads the keys again at once.
  REQUIRE(Sh("openssl pkey -in " + Quote(old_key) + " -pubout -out " + Quote(pub)) == 0);
  const std::size_t before = Count(v.Log(), R"("trigger":"sighup")");
  REQUIRE(kill(v.pid(), SIGHUP) == 0);
  for (int i = 0; i < 100 && Count(v.Log(), R"("trigger":"sighup")") == before; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  CHECK(Count(v.Log(), R"("event":"idp_keys_reloaded","trigger":"sighup")") >= 1);
  CHECK(StatusWith(v, old_token) == 200);
  CHECK(StatusWith(v, new_token) == 401);
  // Still serving, and stops cleanly.
  CHECK(v.Stop() == 0);
}

}  // namespace
}  // namespace escrow::e2e
