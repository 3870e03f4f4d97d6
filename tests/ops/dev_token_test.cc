#include "vault/ops/dev_token.h"

#include <string>

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include "base/bytes.h"
#include "tests/support/temp_dir.h"
#include "tests/tools/tools_test_util.h"
#include "vault/ops/dev_certs.h"
#include "vault/ops/files.h"

namespace escrow::ops {
namespace {

using escrow::testing::B64UrlDecode;
using escrow::testing::SplitDots;
using escrow::testing::TempDir;
using escrow::testing::VerifyEs256;

TEST_CASE("Base64UrlNoPad follows RFC 4648 test vectors without padding", "[ops][dev_token]") {
  CHECK(Base64UrlNoPad(AsBytes("")).empty());
  CHECK(Base64UrlNoPad(AsBytes("f")) == "Zg");
  CHECK(Base64UrlNoPad(AsBytes("fo")) == "Zm8");
  CHECK(Base64UrlNoPad(AsBytes("foo")) == "Zm9v");
  CHECK(Base64UrlNoPad(AsBytes("foob")) == "Zm9vYg");
  CHECK(Base64UrlNoPad(AsBytes("fooba")) == "Zm9vYmE");
  CHECK(Base64UrlNoPad(AsBytes("foobar")) == "Zm9vYmFy");
  const Bytes high = {0xfb, 0xff, 0xfe};
  CHECK(Base64UrlNoPad(high) == "-__-");
}

TEST_CASE("SplitRoles drops empty items and spaces", "[ops][dev_token]") {
  CHECK(SplitRoles("").empty());
  CHECK(SplitRoles("helpdesk,admin") == std::vector<std::string>{"helpdesk", "admin"});
  CHECK(SplitRoles(" auditor ,,admin,") == std::vector<std::string>{"auditor", "admin"});
}

TEST_CASE("DevTokenPayload always writes roles as an array and nbf only when given",
          "[ops][dev_token]") {
  DevTokenClaims claims;
  claims.iss = "https://idp.dev.local";
  claims.sub = "alice@example.com";
  claims.aud = "escrow-vault";
  claims.iat = 1000;
  claims.exp = 4600;
  boost::json::object payload = boost::json::parse(DevTokenPayload(claims)).as_object();
  CHECK(payload.at("roles").as_array().empty());
  CHECK_FALSE(payload.contains("nbf"));
  CHECK(payload.at("sub").as_string() == "alice@example.com");
  CHECK(payload.at("exp").as_int64() == 4600);

  claims.roles = {"helpdesk", "admin"};
  claims.nbf = 900;
  payload = boost::json::parse(DevTokenPayload(claims)).as_object();
  CHECK(payload.at("roles") == boost::json::array{"helpdesk", "admin"});
  CHECK(payload.at("nbf").as_int64() == 900);
}

TEST_CASE("MintDevToken signs an ES256 JWT that verifies with the public key",
          "[ops][dev_token]") {
  TempDir dir;
  const auto key = dir.path() / "dev-signing.key";
  const auto pub = dir.path() / "dev-signing.pub";
  REQUIRE(CreateEcSigningKey(key, pub).ok());

  DevTokenClaims claims;
  claims.iss = "https://idp.dev.local";
  claims.sub = "bob";
  claims.aud = "escrow-vault";
  claims.iat = 1700000000;
  claims.exp = 1700003600;
  claims.roles = {"admin"};
  Result<std::string> token = MintDevToken(claims, key);
  REQUIRE(token.ok());

  const std::vector<std::string> parts = SplitDots(*token);
  REQUIRE(parts.size() == 3);
  for (const std::string& part : parts) {
    CHECK(part.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
          std::string::npos);
  }
  const boost::json::value header = boost::json::parse(*B64UrlDecode(parts[0]));
  CHECK(header == boost::json::parse(R"({"alg":"ES256","typ":"JWT","kid":"dev"})"));
  CHECK(B64UrlDecode(parts[2])->size() == 64);
  CHECK(VerifyEs256(*token, pub));

  SECTION("a changed payload does not verify") {
    std::string forged = *token;
    forged[parts[0].size() + 5] = forged[parts[0].size() + 5] == 'A' ? 'B' : 'A';
    CHECK_FALSE(VerifyEs256(forged, pub));
  }
  SECTION("another key does not verify it") {
    REQUIRE(CreateEcSigningKey(dir.path() / "other.key", dir.path() / "other.pub").ok());
    CHECK_FALSE(VerifyEs256(*token, dir.path() / "other.pub"));
  }
}

TEST_CASE("MintDevToken refuses a missing or non-EC key", "[ops][dev_token]") {
  TempDir dir;
  DevTokenClaims claims;
  claims.sub = "x";
  CHECK(MintDevToken(claims, dir.path() / "missing.key").status().code() == Code::kNotFound);
  REQUIRE(WriteNewFile(dir.path() / "junk.key", std::string_view("not a key\n"), 0600).ok());
  CHECK(MintDevToken(claims, dir.path() / "junk.key").status().code() == Code::kInvalidArgument);
  REQUIRE(escrow::testing::RunCommand("openssl genpkey -algorithm ed25519 -out " +
                                      escrow::testing::ShellQuote((dir.path() / "ed.key").string()) +
                                      " 2>/dev/null") == 0);
  CHECK(MintDevToken(claims, dir.path() / "ed.key").status().code() == Code::kInvalidArgument);
}

}  // namespace
}  // namespace escrow::ops
