#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <thread>

#include "tests/faults/fault_util.h"
#include "tests/support/softhsm_token.h"
#include "tests/support/temp_dir.h"

namespace escrow::faults {
namespace {

namespace fs = std::filesystem;

constexpr const char* kKey1 = "ABCD-EFGH-IJKL-MNOP-QRST-UVWX";
constexpr const char* kKey2 = "ZZZZ-YYYY-XXXX-WWWW-VVVV-2345";

HttpResult StoreAs(const VaultProcess& v, const std::string& token, const std::string& id,
                   const std::string& key) {
  return v.As(token, "PUT", "/v1/devices/" + id + "/recovery-key", e2e::KeyBody(key, key));
}

HttpResult RetrieveAs(const VaultProcess& v, const std::string& token, const std::string& id) {
  return v.As(token, "POST", "/v1/devices/" + id + "/recovery-key/retrieve", "{}");
}

std::size_t VersionCount(const VaultProcess& v, const std::string& token, const std::string& id) {
  const HttpResult r = v.As(token, "GET", "/v1/devices/" + id + "/recovery-key/versions");
  REQUIRE(r.status == 200);
  return Json(r.body).at("versions").as_array().size();
}

HttpResult Health(const VaultProcess& v) {
  Call c;
  c.path = "/v1/health";
  return v.Request(c);
}

// pkcs11-tool on the dev state's token.
int Pkcs11(const VaultProcess& v, const std::string& args, std::string* out = nullptr) {
  const std::string label = GetConf(v.state() + "/vault.conf", "hsm", "token_label");
  return Sh("SOFTHSM2_CONF=" + Quote(v.state() + "/hsm/softhsm2.conf") +
                " pkcs11-tool --module /usr/lib/softhsm/libsofthsm2.so --token-label " +
                Quote(label) + " " + args + " 2>&1",
            out);
}

struct Fixture {
  VaultProcess v;
  std::string alice;
  Fixture() {
    SetConf(v.state() + "/vault.conf", "limits", "retrieve_per_user",
            "{ count = 0, window_seconds = 60 }");
    REQUIRE(v.Start());
    alice = v.Token("alice");
    v.Enrol("mac-1", "alice", "personal");
    v.Enrol("mac-2", "alice", "personal");
    REQUIRE(StoreAs(v, alice, "mac-1", kKey1).status == 200);
    REQUIRE(StoreAs(v, alice, "mac-2", kKey2).status == 200);
  }
  void RequireKey(const std::string& id, const std::string& key) const {
    const HttpResult r = RetrieveAs(v, alice, id);
    INFO(r.status << " " << r.body);
    REQUIRE(r.status == 200);
    CHECK(Json(r.body).at("recovery_key").as_string() == key);
  }
};

void RequireUnavailable(const HttpResult& r, const std::string& code) {
  INFO(r.status << " " << r.body);
  CHECK(r.status == 503);
  CHECK(ErrCode(r) == code);
  CHECK(r.body.find("recovery_key\"") == std::string::npos);
}

TEST_CASE("A vanished HSM token answers 503, changes nothing, and service resumes without a "
          "restart when it is back",
          "[faults][hsm]") {
  Fixture f;
  const VaultProcess& v = f.v;
  const std::string away = v.tmp() + "/tokens-away";
  fs::rename(TokensDir(v), away);
  testing::WaitPastKeyRecheck();  // vaultd sees the vanished token after that

  RequireUnavailable(StoreAs(v, f.alice, "mac-1", "QQQQ-WWWW-EEEE-RRRR-TTTT-YYYY"),
                     "store_failed");
  RequireUnavailable(RetrieveAs(v, f.alice, "mac-1"), "unavailable");
  const HttpResult health = Health(v);
  CHECK(health.status == 503);
  CHECK(Json(health.body).at("hsm").as_string() == "unavailable");
  // Nothing was half-written (every answer, reads too, needs an audit record with the HSM's
  // MAC, so the database itself is asked).
  CHECK(DbVersions(DbPath(v), "mac-1") == "1");

  fs::rename(away, TokensDir(v));
  // Back without a restart (the key service re-initialises the module to see the token).
  CHECK(WaitFor([&] { return RetrieveAs(v, f.alice, "mac-1").status == 200; }));
  f.RequireKey("mac-1", kKey1);
  REQUIRE(StoreAs(v, f.alice, "mac-1", "QQQQ-WWWW-EEEE-RRRR-TTTT-YYYY").status == 200);
  CHECK(VersionCount(v, f.alice, "mac-1") == 2);
  // Health is the monitor's newest check, made once a second: back within about that.
  CHECK(WaitFor([&] { return Health(v).status == 200; }, std::chrono::seconds(3)));
  CHECK(AuditVerifies(v));
  CHECK(v.running());
}

TEST_CASE("A tampered row is an integrity error while the HSM is fine, and a missing token is "
          "503 even for that row",
          "[faults][hsm]") {
  Fixture f;
  const VaultProcess& v = f.v;
  // A new tag for the stored record, behind the vault's back.
  Sqlite(DbPath(v), "UPDATE key_versions SET tag = randomblob(16) WHERE device_id = 'mac-1'");
  HttpResult r = RetrieveAs(v, f.alice, "mac-1");
  INFO(r.body);
  CHECK(r.status == 500);
  CHECK(ErrCode(r) == "integrity_error");
  CHECK(r.body.find(kKey1) == std::string::npos);
  f.RequireKey("mac-2", kKey2);  // the good row still opens

  const std::string away = v.tmp() + "/tokens-away";
  fs::rename(TokensDir(v), away);
  testing::WaitPastKeyRecheck();  // vaultd sees the vanished token after that
  RequireUnavailable(RetrieveAs(v, f.alice, "mac-1"), "unavailable");  // not integrity_error
  RequireUnavailable(RetrieveAs(v, f.alice, "mac-2"), "unavailable");
  fs::rename(away, TokensDir(v));
  CHECK(WaitFor([&] { return RetrieveAs(v, f.alice, "mac-2").status == 200; }));
  r = RetrieveAs(v, f.alice, "mac-1");
  CHECK(r.status == 500);
  CHECK(ErrCode(r) == "integrity_error");
}

TEST_CASE("A changed HSM PIN answers 503 once the vault must log in again, and service resumes "
          "when the PIN is restored",
          "[faults][hsm]") {
  Fixture f;
  const VaultProcess& v = f.v;
  const std::string pin = testing::ReadFileBytes(v.state() + "/hsm/user.pin");
  std::string trimmed = pin;
  while (!trimmed.empty() && (trimmed.back() == '\n' || trimmed.back() == '\r')) trimmed.pop_back();
  std::string out;
  REQUIRE(Pkcs11(v, "--login --pin " + Quote(trimmed) + " --change-pin --new-pin 999999", &out) ==
          0);
  INFO(out);
  // The vault's session stays logged in: the PIN matters only for the next login.
  f.RequireKey("mac-1", kKey1);

  // The token goes away and comes back: the vault must log in again, with the old PIN.
  const std::string away = v.tmp() + "/tokens-away";
  fs::rename(TokensDir(v), away);
  testing::WaitPastKeyRecheck();  // vaultd sees the vanished token after that
  RequireUnavailable(RetrieveAs(v, f.alice, "mac-1"), "unavailable");
  fs::rename(away, TokensDir(v));
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));  // past the rescan interval
  RequireUnavailable(RetrieveAs(v, f.alice, "mac-1"), "unavailable");
  RequireUnavailable(StoreAs(v, f.alice, "mac-2", "QQQQ-WWWW-EEEE-RRRR-TTTT-YYYY"), "store_failed");
  CHECK(DbVersions(DbPath(v), "mac-2") == "1");

  REQUIRE(Pkcs11(v, "--login --pin 999999 --change-pin --new-pin " + Quote(trimmed), &out) == 0);
  CHECK(WaitFor([&] { return RetrieveAs(v, f.alice, "mac-1").status == 200; }));
  f.RequireKey("mac-2", kKey2);
  CHECK(AuditVerifies(v));
}

TEST_CASE("vaultd refuses to start without its PKCS#11 module", "[faults][hsm]") {
  VaultProcess v;
  SetConf(v.state() + "/vault.conf", "hsm", "module", "'/nonexistent/libpkcs11.so'");
  CHECK_FALSE(v.Start());
  CHECK(v.start_exit_status() != 0);
  CHECK(v.Log().find("hsm") != std::string::npos);
}

}  // namespace
}  // namespace escrow::faults
