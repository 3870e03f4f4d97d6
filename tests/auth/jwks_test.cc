#include "auth/jwks.h"

#include <fstream>
#include <string>

#include <catch2/catch.hpp>

#include "tests/auth/jwt_test_util.h"
#include "tests/support/temp_dir.h"

namespace escrow::auth {
namespace {

using testing::TestKey;

std::string Jwks(const std::string& keys) { return R"({"keys":[)" + keys + "]}"; }

void ExpectInvalid(std::string_view jwks, std::string_view why) {
  INFO(why);
  Result<std::vector<JwtKey>> keys = JwtKeysFromJwks(jwks);
  REQUIRE_FALSE(keys.ok());
  CHECK(keys.status().code() == Code::kInvalidArgument);
}

void WriteFile(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

TEST_CASE("JWKS loads EC and RSA signing keys with their pinned algorithms", "[api][jwt][jwks]") {
  const TestKey& ec = TestKey::SharedEc();
  const TestKey& rsa = TestKey::SharedRsa();
  Result<std::vector<JwtKey>> keys = JwtKeysFromJwks(
      Jwks(ec.Jwk("ec-1", R"(,"alg":"ES256","use":"sig")") + "," + rsa.Jwk("rsa-1")));
  REQUIRE(keys.ok());
  REQUIRE(keys->size() == 2);
  CHECK((*keys)[0].kid == "ec-1");
  CHECK((*keys)[0].alg == JwtKey::Alg::kES256);
  CHECK((*keys)[0].pkey != nullptr);
  CHECK((*keys)[1].kid == "rsa-1");
  CHECK((*keys)[1].alg == JwtKey::Alg::kRS256);
  CHECK(AlgName((*keys)[1].alg) == "RS256");
}

TEST_CASE("JWKS skips keys whose use is not sig", "[api][jwt][jwks]") {
  const TestKey& ec = TestKey::SharedEc();
  Result<std::vector<JwtKey>> keys = JwtKeysFromJwks(
      Jwks(ec.Jwk("enc", R"(,"use":"enc")") + "," + TestKey::SharedRsa().Jwk("sig")));
  REQUIRE(keys.ok());
  REQUIRE(keys->size() == 1);
  CHECK((*keys)[0].kid == "sig");
}

TEST_CASE("JWKS refuses private keys, unknown types, bad curves and contradicting algs",
          "[api][jwt][jwks]") {
  const TestKey& ec = TestKey::SharedEc();
  const TestKey& rsa = TestKey::SharedRsa();
  ExpectInvalid(Jwks(ec.PrivateJwk("k")), "EC private key");
  ExpectInvalid(Jwks(rsa.PrivateJwk("k")), "RSA private key");
  ExpectInvalid(Jwks(R"({"kty":"oct","k":"c2VjcmV0","kid":"h"})"), "symmetric key");
  ExpectInvalid(Jwks(R"({"kty":"OKP","crv":"Ed25519","x":"AAAA","kid":"o"})"), "unknown kty");
  ExpectInvalid(Jwks(R"({"crv":"P-256","x":"AAAA","y":"AAAA"})"), "missing kty");

  std::string p384 = ec.Jwk("c");
  p384.replace(p384.find("P-256"), 5, "P-384");
  ExpectInvalid(Jwks(p384), "curve label P-384");
  ExpectInvalid(Jwks(TestKey::Ec("P-384").Jwk("c")),
                "a real P-384 key labelled P-256 (coordinates are 48 bytes)");
  const std::string zero = testing::B64(std::string(32, '\0'));
  ExpectInvalid(Jwks(R"({"kty":"EC","crv":"P-256","x":")" + zero + R"(","y":")" + zero + "\"}"),
                "point not on the curve");
  std::string short_x = ec.Jwk("c");
  short_x.replace(short_x.find("\"x\":\"") + 5, 1, "");
  ExpectInvalid(Jwks(short_x), "truncated x");

  ExpectInvalid(Jwks(ec.Jwk("c", R"(,"alg":"RS256")")), "EC key with alg RS256");
  ExpectInvalid(Jwks(ec.Jwk("c", R"(,"alg":"HS256")")), "EC key with alg HS256");
  ExpectInvalid(Jwks(ec.Jwk("c", R"(,"alg":"ES384")")), "EC key with alg ES384");
  ExpectInvalid(Jwks(rsa.Jwk("c", R"(,"alg":"ES256")")), "RSA key with alg ES256");
  ExpectInvalid(Jwks(rsa.Jwk("c", R"(,"alg":"PS256")")), "RSA key with alg PS256");
  ExpectInvalid(Jwks(rsa.Jwk("c", R"(,"alg":"none")")), "RSA key with alg none");
}

TEST_CASE("JWKS refuses weak RSA keys, repeated kids and malformed documents", "[api][jwt][jwks]") {
  const TestKey& ec = TestKey::SharedEc();
  ExpectInvalid(Jwks(TestKey::Rsa(1024).Jwk("weak")), "RSA-1024");
  ExpectInvalid(Jwks(ec.Jwk("same") + "," + TestKey::SharedRsa().Jwk("same")), "repeated kid");
  ExpectInvalid(Jwks(ec.Jwk("c", R"(,"kid":"other")")), "duplicate JSON member in a JWK");
  ExpectInvalid("not json", "not JSON");
  ExpectInvalid(R"({"keys":{}})", "keys not an array");
  ExpectInvalid(R"([])", "not an object");
  ExpectInvalid(Jwks("1"), "entry not an object");
  ExpectInvalid(Jwks(R"({"kty":"RSA","n":"AQAB"})"), "RSA without e");
  ExpectInvalid(Jwks(R"({"kty":"RSA","n":"AQAB","e":"AQAB"})"), "tiny modulus");
}

TEST_CASE("PEM loading accepts public keys and certificates", "[api][jwt][jwks]") {
  SECTION("EC public key") {
    Result<JwtKey> key = JwtKeyFromPem(TestKey::SharedEc().PublicPem(), "ec");
    REQUIRE(key.ok());
    CHECK(key->kid == "ec");
    CHECK(key->alg == JwtKey::Alg::kES256);
  }
  SECTION("RSA public key") {
    Result<JwtKey> key = JwtKeyFromPem(TestKey::SharedRsa().PublicPem(), "rsa");
    REQUIRE(key.ok());
    CHECK(key->alg == JwtKey::Alg::kRS256);
  }
  SECTION("certificates pin their key's algorithm") {
    Result<JwtKey> ec = JwtKeyFromPem(TestKey::SharedEc().CertificatePem(), "c1");
    REQUIRE(ec.ok());
    CHECK(ec->alg == JwtKey::Alg::kES256);
    Result<JwtKey> rsa = JwtKeyFromPem(TestKey::SharedRsa().CertificatePem(), "c2");
    REQUIRE(rsa.ok());
    CHECK(rsa->alg == JwtKey::Alg::kRS256);
  }
}

TEST_CASE("PEM loading refuses private keys, other key types and extra blocks",
          "[api][jwt][jwks]") {
  auto expect_invalid = [](const std::string& pem, const char* why) {
    INFO(why);
    Result<JwtKey> key = JwtKeyFromPem(pem, "k");
    REQUIRE_FALSE(key.ok());
    CHECK(key.status().code() == Code::kInvalidArgument);
  };
  expect_invalid(TestKey::SharedEc().PrivatePem(), "private key");
  expect_invalid(TestKey::Ec("P-384").PublicPem(), "P-384");
  expect_invalid(TestKey::Ed25519().PublicPem(), "Ed25519");
  expect_invalid(TestKey::Rsa(1024).PublicPem(), "RSA-1024");
  expect_invalid(TestKey::SharedEc().PublicPem() + TestKey::SharedRsa().PublicPem(), "two blocks");
  expect_invalid("", "empty");
  expect_invalid("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "garbage DER");
}

TEST_CASE("MakeJwtKey pins the algorithm of a key object", "[api][jwt][jwks]") {
  CHECK(MakeJwtKey("k", TestKey::SharedEc().pkey())->alg == JwtKey::Alg::kES256);
  CHECK(MakeJwtKey("k", TestKey::SharedRsa().pkey())->alg == JwtKey::Alg::kRS256);
  CHECK_FALSE(MakeJwtKey("k", nullptr).ok());
  CHECK_FALSE(MakeJwtKey("k", TestKey::Ed25519().pkey()).ok());
}

TEST_CASE("Key files load from disk", "[api][jwt][jwks]") {
  const ::escrow::testing::TempDir dir;
  WriteFile(dir.path() / "idp.pem", TestKey::SharedEc().PublicPem());
  WriteFile(dir.path() / "jwks.json", Jwks(TestKey::SharedRsa().Jwk("r")));
  WriteFile(dir.path() / "bad.json", Jwks(TestKey::SharedEc().PrivateJwk("p")));

  Result<JwtKey> pem = LoadJwtKeyPemFile(dir.path() / "idp.pem", "idp");
  REQUIRE(pem.ok());
  CHECK(pem->kid == "idp");
  Result<std::vector<JwtKey>> jwks = LoadJwksFile(dir.path() / "jwks.json");
  REQUIRE(jwks.ok());
  CHECK(jwks->size() == 1);

  Result<std::vector<JwtKey>> bad = LoadJwksFile(dir.path() / "bad.json");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().code() == Code::kInvalidArgument);
  CHECK_THAT(bad.status().message(), Catch::Contains("bad.json"));
  CHECK(LoadJwksFile(dir.path() / "missing.json").status().code() == Code::kNotFound);
  CHECK(LoadJwtKeyPemFile(dir.path() / "missing.pem", "k").status().code() == Code::kNotFound);
}

TEST_CASE("IsStrictJson rejects duplicate keys at any depth", "[api][jwt][jwks]") {
  CHECK(IsStrictJson(R"({"a":1,"b":{"a":2},"c":[{"a":3},{"a":4}]})"));
  CHECK_FALSE(IsStrictJson(R"({"a":1,"a":2})"));
  CHECK_FALSE(IsStrictJson(R"({"sub":"x","\u0073ub":"y"})"));  // same key once unescaped
  CHECK_FALSE(IsStrictJson(R"({"b":{"a":1,"a":1}})"));
  CHECK_FALSE(IsStrictJson(R"([{"a":1,"a":1}])"));
  CHECK_FALSE(IsStrictJson(R"({"a":1} {"b":2})"));
  CHECK_FALSE(IsStrictJson(R"({"a":1,})"));
  CHECK_FALSE(IsStrictJson(R"({"a":1 /* c */})"));
  CHECK_FALSE(IsStrictJson(std::string(40, '[') + std::string(40, ']')));
  CHECK_FALSE(IsStrictJson(""));
}

}  // namespace
}  // namespace escrow::auth
