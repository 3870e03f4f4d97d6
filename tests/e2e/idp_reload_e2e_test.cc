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

std::size_t Count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) {
    ++n;
  }
  return n;
}

// Waits (up to 20 s) until the log has more lines with `what` than `before`: polled in the
// log, not with requests, which a failing token would turn into the failed-auth throttle's 429.
bool AwaitLog(const VaultProcess& v, const std::string& what, std::size_t before) {
  for (int i = 0; i < 200; ++i) {
    if (Count(v.Log(), what) > before) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
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
  constexpr const char* kFileReload = R"("event":"idp_keys_reloaded","trigger":"file_changed")";
  Replace(pub, new_pub);
  REQUIRE(AwaitLog(v, kFileReload, 0));
  CHECK(StatusWith(v, new_token) == 200);
  CHECK(StatusWith(v, old_token) == 401);  // not accepted from the old keys' cache

  // A broken file: logged, and the working keys stay.
  const std::string broken = v.tmp() + "/broken.pub";
  WriteFile(broken, "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n");
  Replace(pub, broken);
  REQUIRE(AwaitLog(v, R"("event":"idp_keys_reload_failed","trigger":"file_changed")", 0));
  CHECK(v.Log().find("the previous keys stay in use") != std::string::npos);
  CHECK(StatusWith(v, new_token) == 200);

  // SIGHUP (systemd's ExecReload) reads the keys again at once.
  REQUIRE(Sh("openssl pkey -in " + Quote(old_key) + " -pubout -out " + Quote(pub)) == 0);
  constexpr const char* kSighupReload = R"("event":"idp_keys_reloaded","trigger":"sighup")";
  const std::size_t before = Count(v.Log(), kSighupReload);
  REQUIRE(kill(v.pid(), SIGHUP) == 0);
  CHECK(AwaitLog(v, kSighupReload, before));
  CHECK(StatusWith(v, old_token) == 200);
  CHECK(StatusWith(v, new_token) == 401);
  // Still serving, and stops cleanly.
  CHECK(v.Stop() == 0);
}

}  // namespace
}  // namespace escrow::e2e
