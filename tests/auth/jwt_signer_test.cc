#include "auth/jwt_signer.h"

#include <fstream>

#include <catch2/catch.hpp>

#include "auth/jwks.h"
#include "auth/jwt_verifier.h"
#include "base/clock.h"
#include "jwt_test_util.h"
#include "tests/support/temp_dir.h"

namespace escrow::auth {
namespace {

std::filesystem::path WriteKey(const escrow::testing::TempDir& dir, const std::string& pem) {
  const std::filesystem::path path = dir.path() / "signing.key";
  std::ofstream(path) << pem;
  return path;
}

TEST_CASE("JwtSigner signs ES256 tokens that JwtVerifier accepts with the public key",
          "[auth][jwt_signer]") {
  escrow::testing::TempDir dir;
  const testing::TestKey& key = testing::TestKey::SharedEc();
  Result<JwtSigner> signer = JwtSigner::FromPemFile(WriteKey(dir, key.PrivatePem()), "dev");
  REQUIRE(signer.ok());
  const std::int64_t now = ToUnixSeconds(Clock::System().Now());
  Result<std::string> token = signer->Sign(
      R"({"iss":"https://idp.test","sub":"alice","aud":"escrow-vault","exp":)" +
      std::to_string(now + 300) + R"(,"roles":["helpdesk"]})");
  REQUIRE(token.ok());

  JwtPolicy policy;
  policy.issuers = {"https://idp.test"};
  policy.audience = "escrow-vault";
  SECTION("verified with the PEM public key") {
    Result<JwtVerifier> verifier = JwtVerifier::Create({key.ToJwtKey("")}, policy);
    REQUIRE(verifier.ok());
    Result<VerifiedToken> verified = verifier->Verify(*token, Clock::System().Now());
    REQUIRE(verified.ok());
    CHECK(verified->user == "alice");
    CHECK(verified->roles == std::vector<std::string>{"helpdesk"});
  }
  SECTION("verified with the signer's own JWKS") {
    Result<std::string> jwks = signer->PublicJwks();
    REQUIRE(jwks.ok());
    Result<std::vector<JwtKey>> keys = JwtKeysFromJwks(*jwks);
    REQUIRE(keys.ok());
    REQUIRE(keys->size() == 1);
    CHECK((*keys)[0].kid == "dev");
    Result<JwtVerifier> verifier = JwtVerifier::Create(std::move(*keys), policy);
    REQUIRE(verifier.ok());
    CHECK(verifier->Verify(*token, Clock::System().Now()).ok());
  }
  SECTION("another key's verifier refuses it") {
    Result<JwtVerifier> verifier =
        JwtVerifier::Create({testing::TestKey::SharedEc2().ToJwtKey("")}, policy);
    REQUIRE(verifier.ok());
    CHECK(verifier->Verify(*token, Clock::System().Now()).status().code() ==
          Code::kUnauthenticated);
  }
}

TEST_CASE("JwtSigner refuses keys that are not EC P-256 private keys", "[auth][jwt_signer]") {
  escrow::testing::TempDir dir;
  CHECK(JwtSigner::FromPemFile(dir.path() / "missing.key", "").status().code() ==
        Code::kNotFound);
  CHECK(JwtSigner::FromPemFile(WriteKey(dir, testing::TestKey::SharedEc().PublicPem()), "")
            .status()
            .code() == Code::kInvalidArgument);
  CHECK(JwtSigner::FromPemFile(WriteKey(dir, testing::TestKey::SharedRsa().PrivatePem()), "")
            .status()
            .code() == Code::kInvalidArgument);
  CHECK(JwtSigner::FromPemFile(WriteKey(dir, testing::TestKey::Ec("P-384").PrivatePem()), "")
            .status()
            .code() == Code::kInvalidArgument);
}

}  // namespace
}  // namespace escrow::auth
