#include <catch2/catch.hpp>

#include "auth/base64url.h"
#include "tests/e2e/e2e_util.h"

namespace escrow::e2e {
namespace {

struct Parts {
  std::string header;
  boost::json::object payload;
};

Parts Split(const std::string& token) {
  const std::size_t a = token.find('.');
  const std::size_t b = token.find('.', a + 1);
  Parts p;
  p.header = *auth::Base64UrlDecodeToString(token.substr(0, a));
  p.payload = Json(*auth::Base64UrlDecodeToString(token.substr(a + 1, b - a - 1))).as_object();
  return p;
}

TEST_CASE("vaultd accepts only well-formed, valid tokens from the configured IdP",
          "[e2e][token]") {
  VaultProcess v;
  REQUIRE(v.Start());
  v.Enrol("mac1", "alice@example.com", "corporate");
  const std::string good = v.Token("alice@example.com");
  REQUIRE(v.As(good, "GET", "/v1/devices/mac1").status == 200);
  const Parts parts = Split(good);
  const std::string idp_key = v.state() + "/idp/dev-signing.key";

  auto expect_401 = [&](const std::string& token) {
    HttpResult r = v.As(token, "GET", "/v1/devices/mac1");
    CHECK(r.status == 401);
    CHECK(ErrCode(r) == "unauthenticated");
    CHECK(r.body.find("alice") == std::string::npos);
  };
  SECTION("expired (beyond the skew)") { expect_401(v.Token("alice@example.com", "--ttl -120")); }
  SECTION("not yet valid") { expect_401(v.Token("alice@example.com", "--nbf 300")); }
  SECTION("wrong issuer") { expect_401(v.Token("alice@example.com", "--iss https://evil.example")); }
  SECTION("wrong audience") { expect_401(v.Token("alice@example.com", "--aud someone-else")); }
  SECTION("forged: signed by another key") {
    const std::string other = v.tmp() + "/forger.key";
    REQUIRE(Sh("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out " +
               Quote(other)) == 0);
    expect_401(SignEs256(parts.header, boost::json::serialize(parts.payload), other));
  }
  SECTION("tampered: the payload changed under a valid signature") {
    boost::json::object p = parts.payload;
    p["sub"] = "mallory@example.com";
    const std::string forged = SignEs256(parts.header, boost::json::serialize(p), idp_key);
    const std::string spliced = good.substr(0, good.find('.')) + "." +
                                forged.substr(forged.find('.') + 1, forged.rfind('.') - forged.find('.') - 1) +
                                good.substr(good.rfind('.'));
    expect_401(spliced);
    std::string flipped = good;
    flipped[flipped.size() - 5] = flipped[flipped.size() - 5] == 'A' ? 'B' : 'A';
    expect_401(flipped);
  }
  SECTION("alg none") {
    expect_401(Unsigned(R"({"alg":"none","typ":"JWT"})", boost::json::serialize(parts.payload)));
    expect_401(Unsigned(R"({"alg":"none","typ":"JWT","kid":"dev"})",
                        boost::json::serialize(parts.payload)));
  }
  SECTION("HS256 keyed with the public key") {
    const std::string pub = testing::ReadFileBytes(v.state() + "/idp/dev-signing.pub");
    expect_401(SignHs256(R"({"alg":"HS256","typ":"JWT"})", boost::json::serialize(parts.payload),
                         pub));
    expect_401(SignHs256(R"({"alg":"HS256","typ":"JWT","kid":"dev"})",
                         boost::json::serialize(parts.payload), pub));
  }
  SECTION("roles that are not an array of strings") {
    boost::json::object p = parts.payload;
    p["roles"] = "admin";
    expect_401(SignEs256(parts.header, boost::json::serialize(p), idp_key));
    p["roles"] = boost::json::array{1, 2};
    expect_401(SignEs256(parts.header, boost::json::serialize(p), idp_key));
    p["roles"] = boost::json::array{"helpdesk"};
    CHECK(v.As(SignEs256(parts.header, boost::json::serialize(p), idp_key), "GET",
               "/v1/devices/mac1")
              .status == 200);
  }
  SECTION("no token, or a malformed Authorization header") {
    Call c;
    c.path = "/v1/devices/mac1";
    c.who = "portal";
    CHECK(v.Request(c).status == 401);
    c.extra_headers = {"Authorization: Basic YWxpY2U6cHc="};
    CHECK(v.Request(c).status == 401);
  }
  SECTION("a bearer token on an mdm call") {
    Call c;
    c.path = "/v1/devices/mac1";
    c.who = "mdm";
    c.token = good;
    HttpResult r = v.Request(c);
    CHECK(r.status == 401);
    CHECK(ErrCode(r) == "unauthenticated");
  }
  CHECK(v.Log().find(good.substr(good.rfind('.') + 1)) == std::string::npos);
  CHECK(v.Stop() == 0);
}

TEST_CASE("vaultd throttles failed authentication per client and token", "[e2e][token][limits]") {
  VaultProcess v;
  REQUIRE(v.Start());
  v.Enrol("mac1", "alice@example.com", "corporate");
  const std::string bad = v.Token("alice@example.com", "--aud wrong");
  for (int i = 0; i < 10; ++i) REQUIRE(v.As(bad, "GET", "/v1/devices/mac1").status == 401);
  HttpResult r = v.As(bad, "GET", "/v1/devices/mac1");
  CHECK(r.status == 429);
  CHECK(ErrCode(r) == "rate_limited");
  CHECK(std::stoi(r.headers["retry-after"]) >= 1);
  // Another user of the same frontend is not locked out.
  CHECK(v.As(v.Token("alice@example.com"), "GET", "/v1/devices/mac1").status == 200);
  CHECK(v.Stop() == 0);
}

}  // namespace
}  // namespace escrow::e2e
