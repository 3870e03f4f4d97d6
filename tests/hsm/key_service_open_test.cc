#include <catch2/catch.hpp>

#include "hsm/key_service.h"
#include "tests/hsm/key_service_fixture.h"
#include "tests/support/softhsm_token.h"

namespace escrow::hsm {
namespace {

using escrow::testing::SoftHsmToken;

TEST_CASE("KeyService opens a token by label and reports its identity", "[hsm][open]") {
  ESCROW_SKIP_ON_NSS("SoftHSMv2's identity and label");
  SoftHsmToken token;
  Result<std::unique_ptr<KeyService>> keys = KeyService::Open(token.config());
  REQUIRE(keys.ok());
  const TokenInfo info = (*keys)->token();
  CHECK(info.label == token.label());
  CHECK_FALSE(info.serial.empty());
  CHECK(info.manufacturer == "SoftHSM project");
}

TEST_CASE("KeyService refuses a wrong PIN as unauthenticated, naming CKR_PIN_INCORRECT",
          "[hsm][open]") {
  SoftHsmToken token;
  HsmConfig config = token.config();
  config.pin_file = token.WriteFile("wrong.pin", "not-the-pin\n");
  Result<std::unique_ptr<KeyService>> keys = KeyService::Open(config);
  REQUIRE_FALSE(keys.ok());
  CHECK(keys.status().code() == Code::kUnauthenticated);
  CHECK(keys.status().message() == "C_Login: CKR_PIN_INCORRECT");
}

TEST_CASE("KeyService names a missing token label", "[hsm][open]") {
  SoftHsmToken token;
  HsmConfig config = token.config();
  config.token_label = "no-such-token";
  config.token_uri.clear();  // the NSS fixture names its token by URI
  Result<std::unique_ptr<KeyService>> keys = KeyService::Open(config);
  REQUIRE_FALSE(keys.ok());
  CHECK(keys.status().code() == Code::kUnavailable);
  CHECK_THAT(keys.status().message(), Catch::Contains("no token labelled no-such-token"));
}

TEST_CASE("KeyService names a module that cannot be loaded", "[hsm][open]") {
  SoftHsmToken token;
  HsmConfig config = token.config();
  config.module_path = "/nonexistent/libpkcs11.so";
  Result<std::unique_ptr<KeyService>> keys = KeyService::Open(config);
  REQUIRE_FALSE(keys.ok());
  CHECK(keys.status().code() == Code::kUnavailable);
  CHECK_THAT(keys.status().message(),
             Catch::Contains("cannot load PKCS#11 module /nonexistent/libpkcs11.so"));

  SECTION("a library without C_GetFunctionList") {
    config.module_path = "libz.so.1";
    Result<std::unique_ptr<KeyService>> other = KeyService::Open(config);
    REQUIRE_FALSE(other.ok());
    CHECK(other.status().code() == Code::kUnavailable);
    CHECK_THAT(other.status().message(), Catch::Contains("has no C_GetFunctionList"));
  }
}

TEST_CASE("KeyService refuses an unreadable or empty PIN file as an invalid argument",
          "[hsm][open]") {
  SoftHsmToken token;
  HsmConfig config = token.config();
  SECTION("missing file") { config.pin_file = token.pin_file() + ".missing"; }
  SECTION("empty file") { config.pin_file = token.WriteFile("empty.pin", ""); }
  SECTION("no file configured") { config.pin_file.clear(); }
  Result<std::unique_ptr<KeyService>> keys = KeyService::Open(config);
  REQUIRE_FALSE(keys.ok());
  CHECK(keys.status().code() == Code::kInvalidArgument);
}

TEST_CASE("KeyService accepts a PIN file with or without one trailing newline", "[hsm][open]") {
  SoftHsmToken token;
  HsmConfig config = token.config();
  SECTION("no newline") { config.pin_file = token.WriteFile("bare.pin", token.pin()); }
  SECTION("CRLF") { config.pin_file = token.WriteFile("crlf.pin", token.pin() + "\r\n"); }
  SECTION("newline") {}
  Result<std::unique_ptr<KeyService>> keys = KeyService::Open(config);
  CHECK(keys.ok());
}

TEST_CASE("KeyService strips only one trailing newline from the PIN file", "[hsm][open]") {
  SoftHsmToken token;
  HsmConfig config = token.config();
  config.pin_file = token.WriteFile("two.pin", token.pin() + "\n\n");
  Result<std::unique_ptr<KeyService>> keys = KeyService::Open(config);
  REQUIRE_FALSE(keys.ok());
  CHECK(keys.status().code() == Code::kUnauthenticated);
}

TEST_CASE("KeyService refuses a token label longer than 32 bytes", "[hsm][open]") {
  SoftHsmToken token;
  HsmConfig config = token.config();
  config.token_label = std::string(33, 'x');
  Result<std::unique_ptr<KeyService>> keys = KeyService::Open(config);
  REQUIRE_FALSE(keys.ok());
  CHECK(keys.status().code() == Code::kInvalidArgument);
}

TEST_CASE("Two KeyServices may share one token in one process", "[hsm][open]") {
  SoftHsmToken token;
  Result<std::unique_ptr<KeyService>> first = KeyService::Open(token.config());
  REQUIRE(first.ok());
  REQUIRE((*first)->GenerateKey(KeyRole::kMaster, 1, false).ok());
  Result<std::unique_ptr<KeyService>> second = KeyService::Open(token.config());
  REQUIRE(second.ok());
  first->reset();  // closing one session must not log the other out
  CHECK((*second)->FindKey(KeyRole::kMaster, 1).ok());
  const std::vector<std::uint8_t> data = {1, 2, 3};
  CHECK((*second)->Encrypt(1, data, data).ok());
}

}  // namespace
}  // namespace escrow::hsm
