// A vault on NSS's softoken (libnss3) instead of SoftHSMv2: vaultctl init by PKCS#11 URI and
// init_args, then the real vaultd over HTTPS. Skipped with a WARN where libsoftokn3 is not
// installed.

#include <catch2/catch.hpp>

#include "tests/e2e/e2e_util.h"
#include "tests/support/nss_softoken.h"

namespace escrow::e2e {
namespace {

TEST_CASE(
    "A vault on NSS's softoken stores and releases a key and says at start what the module cannot "
    "do",
    "[e2e][nss]") {
  if (!testing::NssSoftoken::Available()) {
    WARN("SKIPPED: " << testing::NssSoftoken::kModulePath << " is not installed (libnss3)");
    return;
  }
  const testing::ChildrenSkipLeakCheck no_leak_check;  // NSS in vaultctl and vaultd
  testing::NssSoftoken nss;
  VaultProcess v(
      VaultProcess::OnModule{nss.module_path(), nss.token_uri(), nss.init_args(), nss.pin_file()});
  // No CKA_CHECK_VALUE on NSS: the transcript's check values are 3 bytes of a GCM tag (the
  // master key) or an HMAC (the MAC keys) of a fixed block, never "n/a" and never longer.
  INFO(v.init_transcript());
  CHECK_THAT(v.init_transcript(), Catch::Contains("(GCM tag of a fixed block)"));
  CHECK_THAT(v.init_transcript(), Catch::Contains("(HMAC of a fixed block)"));
  CHECK_THAT(v.init_transcript(), !Catch::Contains("check value n/a"));
  CHECK_THAT(v.init_transcript(), Catch::Contains("module cannot:   CKA_CHECK_VALUE"));
  CHECK_THAT(v.init_transcript(), Catch::Contains("module cannot:   an SO login"));

  REQUIRE(v.Start());
  INFO(v.Log());
  // One line lists what the module cannot do; the checkpoint's own line stays.
  const std::string log = v.Log();
  const std::size_t at = log.find(R"({"event":"hsm_capabilities")");
  REQUIRE(at != std::string::npos);
  const std::string line = log.substr(at, log.find('\n', at) - at);
  const boost::json::value caps = Json(line);
  REQUIRE(caps.is_object());
  CHECK(std::string(caps.at("token").as_string()) == nss.token_uri());
  const auto& cannot = caps.at("cannot").as_array();
  REQUIRE(cannot.size() == 4);
  CHECK_THAT(std::string(cannot[0].as_string()), Catch::StartsWith("CKA_CHECK_VALUE"));
  CHECK_THAT(std::string(cannot[1].as_string()), Catch::StartsWith("private data objects"));
  CHECK_THAT(std::string(cannot[2].as_string()), Catch::StartsWith("an SO login"));
  CHECK_THAT(std::string(cannot[3].as_string()), Catch::StartsWith("session copies"));
  CHECK_THAT(log, Catch::Contains(R"("event":"audit_checkpoint_not_kept")"));

  // The story's core: enrol, check in, store, retrieve, over HTTPS.
  const std::string alice = v.Token("alice@example.com");
  HttpResult r = v.Mdm("PUT", "/v1/devices/mac1", DeviceBody("alice@example.com"));
  REQUIRE(r.status == 201);
  r = v.Mdm("POST", "/v1/devices/mac1/checkin", "{}");
  REQUIRE(r.status == 200);
  r = v.As(alice, "PUT", "/v1/devices/mac1/recovery-key", KeyBody(kMacKey1, kMacKey1));
  INFO(r.body);
  REQUIRE(r.status == 200);
  CHECK(Json(r.body).at("version") == 1);
  r = v.As(alice, "POST", "/v1/devices/mac1/recovery-key/retrieve", "{}");
  INFO(r.body);
  REQUIRE(r.status == 200);
  CHECK(Json(r.body).at("recovery_key") == kMacKey1);
  // A second store and a retrieval after it: the burned-key path MACs and decrypts again.
  r = v.Mdm("PUT", "/v1/devices/mac1/recovery-key",
            std::string(R"({"recovery_key":")") + kMacKey2 + "\"}");
  REQUIRE(r.status == 200);
  r = v.As(alice, "POST", "/v1/devices/mac1/recovery-key/retrieve", "{}");
  REQUIRE(r.status == 200);
  CHECK(Json(r.body).at("recovery_key") == kMacKey2);
  CHECK(v.Stop() == 0);
}

}  // namespace
}  // namespace escrow::e2e
