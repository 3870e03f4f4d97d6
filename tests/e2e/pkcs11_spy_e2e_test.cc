// vaultd through OpenSC's pkcs11-spy in front of SoftHSMv2 (issue 20): the spy logs every
// PKCS#11 call the vault makes, with its arguments and answers, so the test reads what the vault
// asked of the module rather than trusting its own account: no key value read (every CKA_VALUE
// it read back is an audit checkpoint's), no wrap outside a backup, nothing refused as
// sensitive; and the PIN, which the spy's log holds, never in the vault's own log. The spy's log
// stays in the test's temp dir and is deleted with it.

#include <cstdlib>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "tests/e2e/e2e_util.h"

namespace escrow::e2e {
namespace {

constexpr const char* kSpyModule = "/usr/lib/x86_64-linux-gnu/pkcs11/pkcs11-spy.so";
constexpr const char* kSoftHsm = "/usr/lib/softhsm/libsofthsm2.so";

// Sets an environment variable for this process (and so for the vaultd it starts) until the
// end of the scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    (void)setenv(name, value.c_str(), 1);  // NOLINT(concurrency-mt-unsafe): before threads
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;
  ~ScopedEnv() { (void)unsetenv(name_); }  // NOLINT(concurrency-mt-unsafe)

 private:
  const char* name_;
};

// One call in the spy's log: its name and its lines.
struct SpyCall {
  std::string name;
  std::vector<std::string> lines;
};

std::vector<SpyCall> ParseSpyLog(const std::string& text) {
  std::vector<SpyCall> calls;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    // "12: C_GetAttributeValue" starts a call.
    const std::size_t colon = line.find(": C_");
    if (colon != std::string::npos && colon > 0 &&
        line.find_first_not_of("0123456789") == colon) {
      calls.push_back({line.substr(colon + 2), {}});
      continue;
    }
    if (!calls.empty()) calls.back().lines.push_back(line);
  }
  return calls;
}

// The first hex bytes the spy printed for each CKA_VALUE it saw come back from a
// C_GetAttributeValue (a length query, with no buffer, prints none), with the call's lines.
struct ValueRead {
  std::string first_bytes;
  std::string call;
};
std::vector<ValueRead> ValuesRead(const std::vector<SpyCall>& calls) {
  std::vector<ValueRead> values;
  for (const SpyCall& call : calls) {
    if (call.name != "C_GetAttributeValue") continue;
    bool out = false;
    for (std::size_t i = 0; i < call.lines.size(); ++i) {
      const std::string& l = call.lines[i];
      if (l.rfind("[out]", 0) == 0) out = true;
      if (!out || l.find("CKA_VALUE ") == std::string::npos) continue;
      if (l.find("0000000000000000 /") != std::string::npos) continue;  // length query
      // Short values print as "45434B50 01000000 ..."; longer ones as a dump whose lines start
      // with an offset: "00000000  45 43 4B 50 01 ...".
      std::string line = i + 1 < call.lines.size() ? call.lines[i + 1] : "";
      line.erase(0, line.find_first_not_of(' '));
      if (line.size() > 10 && line.compare(8, 2, "  ") == 0) line.erase(0, 10);
      std::string hex;
      for (const char ch : line.substr(0, 12)) {
        if (ch != ' ') hex += ch;
      }
      std::string all;
      for (const std::string& each : call.lines) all += each + "\n";
      values.push_back({hex.substr(0, 8), all});
    }
  }
  return values;
}

TEST_CASE("Through pkcs11-spy no key value is read and no key wrapped and the PIN stays out of the vault's log",
          "[e2e][hsm][spy]") {
  REQUIRE(std::filesystem::exists(kSpyModule));
  VaultProcess v;
  const std::string spy_log = v.tmp() + "/spy.log";
  Configure(v, "module", Quote(kSpyModule));
  const ScopedEnv target("PKCS11SPY", kSoftHsm);
  const ScopedEnv output("PKCS11SPY_OUTPUT", spy_log);
  REQUIRE(v.Start());

  // The story's calls that reach the HSM: store (seal, fingerprint, state MAC), verify,
  // a release (decrypt, and the audit checkpoint kept before it), a new version.
  v.Enrol("mac1", "alice@example.com", "corporate");
  const std::string alice = v.Token("alice@example.com");
  const std::string hd = v.Token("hd@example.com", "--roles helpdesk");
  REQUIRE(v.As(alice, "PUT", "/v1/devices/mac1/recovery-key", KeyBody(kMacKey1, kMacKey1))
              .status == 200);
  HttpResult r = v.As(alice, "POST", "/v1/devices/mac1/recovery-key/verify",
                      std::string(R"({"recovery_key":")") + kMacKey1 + "\"}");
  REQUIRE(r.status == 200);
  CHECK_THAT(r.body, Catch::Contains(R"("matches":true)"));
  r = v.As(hd, "POST", "/v1/devices/mac1/recovery-key/retrieve", R"({"reason":"ticket 1"})");
  REQUIRE(r.status == 200);
  CHECK_THAT(r.body, Catch::Contains(kMacKey1));
  REQUIRE(v.Mdm("PUT", "/v1/devices/mac1/recovery-key",
                std::string(R"({"recovery_key":")") + kMacKey2 + "\"}")
              .status == 200);
  REQUIRE(v.Stop() == 0);

  const std::string text = testing::ReadFileBytes(spy_log);
  const std::vector<SpyCall> calls = ParseSpyLog(text);
  std::map<std::string, int> counts;
  for (const SpyCall& c : calls) ++counts[c.name];
  // The spy was in the path of everything: login, sealing, opening, MACs, the checkpoint.
  CHECK(counts["C_Login"] >= 1);
  CHECK(counts["C_Encrypt"] >= 2);
  CHECK(counts["C_Decrypt"] >= 1);
  CHECK(counts["C_Sign"] >= 3);
  CHECK(counts["C_CreateObject"] >= 1);
  // No wrap (a backup is the only one, and this story takes none); no key ever leaves.
  CHECK(counts["C_WrapKey"] == 0);
  // Every value read back is an audit checkpoint's ("ECKP", hsm/data_object.h), never a key's;
  // and the vault never even asked for a sensitive attribute.
  const std::vector<ValueRead> values = ValuesRead(calls);
  CHECK_FALSE(values.empty());
  for (const ValueRead& value : values) {
    INFO(value.call);
    CHECK(value.first_bytes == "45434B50");
  }
  CHECK(text.find("CKR_ATTRIBUTE_SENSITIVE") == std::string::npos);
  // The PIN: in the spy's log (so the check below can fail), never in the vault's own.
  std::string pin = testing::ReadFileBytes(v.state() + "/hsm/user.pin");
  while (!pin.empty() && (pin.back() == '\n' || pin.back() == '\r')) pin.pop_back();
  REQUIRE(pin.size() >= 4);
  CHECK(text.find(pin) != std::string::npos);
  CHECK(v.Log().find(pin) == std::string::npos);
  // The spy's log holds the PIN: it goes now, not only with the temp dir.
  std::filesystem::remove(spy_log);
}

}  // namespace
}  // namespace escrow::e2e
