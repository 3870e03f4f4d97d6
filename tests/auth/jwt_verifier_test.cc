#include "auth/jwt_verifier.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>
#include <openssl/err.h>

#include "tests/auth/jwt_test_util.h"

namespace escrow::auth {
namespace {

using testing::B64;
using testing::MintEs256;
using testing::MintHs256;
using testing::MintRaw;
using testing::MintRs256;
using testing::TestKey;

constexpr std::int64_t kNow = 1'800'000'000;
constexpr std::int64_t kExp = kNow + 600;
constexpr TimePoint kNowTp{std::chrono::seconds(kNow)};  // FromUnixSeconds(kNow), at compile time

constexpr const char* kEcHeader = R"({"alg":"ES256","typ":"JWT","kid":"ec-1"})";
constexpr const char* kRsaHeader = R"({"alg":"RS256","typ":"JWT","kid":"rsa-1"})";

JwtPolicy Policy() {
  JwtPolicy policy;
  policy.issuers = {"https://idp.example", "https://idp2.example"};
  policy.audience = "escrow-vault";
  return policy;
}

JwtVerifier MakeVerifier(JwtPolicy policy = Policy()) {
  std::vector<JwtKey> keys = {TestKey::SharedEc().ToJwtKey("ec-1"),
                              TestKey::SharedRsa().ToJwtKey("rsa-1")};
  Result<JwtVerifier> verifier = JwtVerifier::Create(std::move(keys), std::move(policy));
  REQUIRE(verifier.ok());
  return std::move(verifier).value();
}

// A payload: the standard valid claims, with members replaced (raw JSON values), added, or
// removed (a value of "" removes the member).
std::string Payload(const std::vector<std::pair<std::string, std::string>>& changes = {}) {
  std::vector<std::pair<std::string, std::string>> members = {
      {"iss", R"("https://idp.example")"},
      {"aud", R"("escrow-vault")"},
      {"sub", R"("alice")"},
      {"email", R"("alice@example.com")"},
      {"iat", std::to_string(kNow - 10)},
      {"exp", std::to_string(kExp)},
      {"roles", R"(["helpdesk","auditor"])"},
  };
  for (const auto& [name, value] : changes) {
    bool found = false;
    for (auto& member : members) {
      if (member.first == name) {
        member.second = value;
        found = true;
      }
    }
    if (!found) members.emplace_back(name, value);
  }
  std::string out = "{";
  for (const auto& [name, value] : members) {
    if (value.empty()) continue;
    if (out.size() > 1) out += ",";
    out += "\"" + name + "\":" + value;
  }
  return out + "}";
}

std::string EcToken(const std::string& payload = Payload()) {
  return MintEs256(TestKey::SharedEc(), kEcHeader, payload);
}

void ExpectRejected(const JwtVerifier& verifier, const std::string& token, const std::string& why,
                    TimePoint now = kNowTp) {
  INFO("expected rejection: " << why);
  Result<VerifiedToken> result = verifier.Verify(token, now);
  REQUIRE_FALSE(result.ok());
  CHECK(result.status().code() == Code::kUnauthenticated);
  CHECK(result.status().reason() == "unauthenticated");
  CHECK_THAT(result.status().message(), Catch::Contains(why));
  // No part of the token leaks into messages (which end up in logs).
  const std::string message = result.status().message();
  for (std::size_t pos = 0; pos + 16 <= token.size(); pos += 8) {
    CHECK(message.find(token.substr(pos, 16)) == std::string::npos);
  }
  CHECK(ERR_peek_error() == 0);  // OpenSSL's error queue is left clean
}

// Changes the character at `pos` to another base64url character.
std::string Tamper(std::string token, std::size_t pos) {
  token[pos] = token[pos] == 'A' ? 'B' : 'A';
  return token;
}

TEST_CASE("JwtVerifier accepts valid ES256 and RS256 tokens", "[api][jwt]") {
  const JwtVerifier verifier = MakeVerifier();
  SECTION("ES256") {
    Result<VerifiedToken> token = verifier.Verify(EcToken(), kNowTp);
    REQUIRE(token.ok());
    CHECK(token->user == "alice");
    CHECK(token->roles == std::vector<std::string>{"helpdesk", "auditor"});
    CHECK(token->exp == kExp);
  }
  SECTION("RS256") {
    Result<VerifiedToken> token =
        verifier.Verify(MintRs256(TestKey::SharedRsa(), kRsaHeader, Payload()), kNowTp);
    REQUIRE(token.ok());
    CHECK(token->user == "alice");
    CHECK(token->roles.size() == 2);
  }
  SECTION("without kid, every key pinned to the alg is tried") {
    CHECK(verifier.Verify(MintEs256(TestKey::SharedEc(), R"({"alg":"ES256"})", Payload()), kNowTp)
              .ok());
    CHECK(verifier.Verify(MintRs256(TestKey::SharedRsa(), R"({"alg":"RS256"})", Payload()), kNowTp)
              .ok());
  }
  SECTION("typ JWT in any case, or at+jwt") {
    for (const char* typ : {"JWT", "jwt", "at+jwt", "AT+JWT"}) {
      const std::string header =
          std::string(R"({"alg":"ES256","kid":"ec-1","typ":")") + typ + "\"}";
      CHECK(verifier.Verify(MintEs256(TestKey::SharedEc(), header, Payload()), kNowTp).ok());
    }
  }
  SECTION("the second configured issuer") {
    CHECK(verifier.Verify(EcToken(Payload({{"iss", R"("https://idp2.example")"}})), kNowTp).ok());
  }
}

TEST_CASE("JwtVerifier selects among several keys of one type by kid or by trying each",
          "[api][jwt]") {
  std::vector<JwtKey> keys = {TestKey::SharedEc().ToJwtKey("ec-1"),
                              TestKey::SharedEc2().ToJwtKey("ec-2")};
  Result<JwtVerifier> verifier = JwtVerifier::Create(std::move(keys), Policy());
  REQUIRE(verifier.ok());
  const std::string payload = Payload();
  CHECK(verifier->Verify(MintEs256(TestKey::SharedEc2(), R"({"alg":"ES256"})", payload), kNowTp)
            .ok());
  CHECK(verifier
            ->Verify(MintEs256(TestKey::SharedEc2(), R"({"alg":"ES256","kid":"ec-2"})", payload),
                     kNowTp)
            .ok());
  ExpectRejected(*verifier,
                 MintEs256(TestKey::SharedEc2(), R"({"alg":"ES256","kid":"ec-1"})", payload),
                 "bad signature");
  ExpectRejected(*verifier, MintEs256(TestKey::Ec(), R"({"alg":"ES256"})", payload),
                 "bad signature");
}

TEST_CASE("JwtVerifier checks exp and nbf with skew", "[api][jwt]") {
  const JwtVerifier verifier = MakeVerifier();
  const std::string token = EcToken();
  CHECK(verifier.Verify(token, FromUnixSeconds(kExp)).ok());
  CHECK(verifier.Verify(token, FromUnixSeconds(kExp + 60)).ok());  // within skew
  ExpectRejected(verifier, token, "token expired", FromUnixSeconds(kExp + 61));

  const std::string nbf_soon = EcToken(Payload({{"nbf", std::to_string(kNow + 60)}}));
  CHECK(verifier.Verify(nbf_soon, kNowTp).ok());
  const std::string nbf_later = EcToken(Payload({{"nbf", std::to_string(kNow + 61)}}));
  ExpectRejected(verifier, nbf_later, "not yet valid");
  CHECK(verifier.Verify(nbf_later, FromUnixSeconds(kNow + 1)).ok());
  ExpectRejected(verifier, EcToken(Payload({{"nbf", R"("0")"}})), "bad nbf");

  JwtPolicy strict = Policy();
  strict.skew = std::chrono::seconds(0);
  ExpectRejected(MakeVerifier(strict), token, "token expired", FromUnixSeconds(kExp + 1));
}

TEST_CASE("JwtVerifier requires exp to be a number", "[api][jwt]") {
  const JwtVerifier verifier = MakeVerifier();
  ExpectRejected(verifier, EcToken(Payload({{"exp", ""}})), "no exp");
  ExpectRejected(verifier, EcToken(Payload({{"exp", "\"" + std::to_string(kExp) + "\""}})),
                 "bad exp");
  ExpectRejected(verifier, EcToken(Payload({{"exp", "true"}})), "bad exp");
  ExpectRejected(verifier, EcToken(Payload({{"exp", "null"}})), "bad exp");
  ExpectRejected(verifier, EcToken(Payload({{"exp", "[1]"}})), "bad exp");
  ExpectRejected(verifier, EcToken(Payload({{"exp", std::to_string(kExp) + ".5"}})), "bad exp");
  ExpectRejected(verifier, EcToken(Payload({{"exp", "1e300"}})), "bad exp");
  ExpectRejected(verifier, EcToken(Payload({{"exp", "18446744073709551615"}})), "bad exp");
  Result<VerifiedToken> integral_double =
      verifier.Verify(EcToken(Payload({{"exp", "1.8000006e9"}})), kNowTp);
  REQUIRE(integral_double.ok());
  CHECK(integral_double->exp == kExp);
}

TEST_CASE("JwtVerifier checks iss and aud", "[api][jwt]") {
  const JwtVerifier verifier = MakeVerifier();
  ExpectRejected(verifier, EcToken(Payload({{"iss", R"("https://evil.example")"}})),
                 "wrong issuer");
  ExpectRejected(verifier, EcToken(Payload({{"iss", R"("https://idp.example/")"}})),
                 "wrong issuer");
  ExpectRejected(verifier, EcToken(Payload({{"iss", ""}})), "no iss");
  ExpectRejected(verifier, EcToken(Payload({{"iss", R"(["https://idp.example"])"}})), "no iss");

  ExpectRejected(verifier, EcToken(Payload({{"aud", R"("other")"}})), "wrong audience");
  ExpectRejected(verifier, EcToken(Payload({{"aud", ""}})), "no aud");
  ExpectRejected(verifier, EcToken(Payload({{"aud", R"(["a","b"])"}})), "wrong audience");
  ExpectRejected(verifier, EcToken(Payload({{"aud", R"(["escrow-vault",1])"}})), "bad aud");
  ExpectRejected(verifier, EcToken(Payload({{"aud", R"({"escrow-vault":true})"}})), "bad aud");
  CHECK(verifier.Verify(EcToken(Payload({{"aud", R"(["other","escrow-vault"])"}})), kNowTp).ok());

  JwtPolicy no_issuers = Policy();
  no_issuers.issuers.clear();
  ExpectRejected(MakeVerifier(no_issuers), EcToken(), "wrong issuer");
}

TEST_CASE("JwtVerifier never accepts alg none or HMAC", "[api][jwt]") {
  const JwtVerifier verifier = MakeVerifier();
  const std::string payload = Payload();
  ExpectRejected(verifier, MintRaw(R"({"alg":"none"})", payload, ""), "algorithm not allowed");
  ExpectRejected(verifier, MintRaw(R"({"alg":"none","kid":"ec-1"})", payload, ""),
                 "algorithm not allowed");
  const std::string real_sig = EcToken().substr(EcToken().rfind('.') + 1);
  ExpectRejected(verifier, MintRaw(R"({"alg":"none"})", payload, real_sig),
                 "algorithm not allowed");
  ExpectRejected(verifier, MintRaw(R"({"alg":"None"})", payload, ""), "algorithm not allowed");
  ExpectRejected(verifier, MintRaw(R"({"typ":"JWT"})", payload, real_sig), "no alg");
  ExpectRejected(verifier, MintRaw(R"({"alg":null})", payload, real_sig), "no alg");

  // The classic confusion: HMAC keyed with the public key the vault has configured.
  for (const TestKey* key : {&TestKey::SharedEc(), &TestKey::SharedRsa()}) {
    const std::string pem = key->PublicPem();
    for (const char* header :
         {R"({"alg":"HS256"})", R"({"alg":"HS256","kid":"ec-1"})",
          R"({"alg":"HS256","kid":"rsa-1"})", R"({"alg":"HS384","kid":"ec-1"})"}) {
      ExpectRejected(verifier, MintHs256(pem, header, payload), "algorithm not allowed");
    }
  }
  for (const char* alg : {"ES384", "ES512", "PS256", "RS512", "EdDSA", "es256", "ES256 "}) {
    const std::string header = std::string(R"({"alg":")") + alg + "\"}";
    ExpectRejected(verifier, MintEs256(TestKey::SharedEc(), header, payload),
                   "algorithm not allowed");
  }
}

TEST_CASE("JwtVerifier holds each key to its pinned algorithm", "[api][jwt]") {
  const JwtVerifier verifier = MakeVerifier();
  const std::string payload = Payload();
  // ES256 header naming the RSA key, and RS256 header naming the EC key.
  ExpectRejected(verifier,
                 MintEs256(TestKey::SharedEc(), R"({"alg":"ES256","kid":"rsa-1"})", payload),
                 "algorithm not allowed for key");
  ExpectRejected(verifier,
                 MintRs256(TestKey::SharedRsa(), R"({"alg":"RS256","kid":"ec-1"})", payload),
                 "algorithm not allowed for key");
  // With only one key type configured, a header of the other alg matches no key at all.
  std::vector<JwtKey> ec_only = {TestKey::SharedEc().ToJwtKey("ec-1")};
  Result<JwtVerifier> ec_verifier = JwtVerifier::Create(std::move(ec_only), Policy());
  REQUIRE(ec_verifier.ok());
  ExpectRejected(*ec_verifier, MintRs256(TestKey::SharedRsa(), R"({"alg":"RS256"})", payload),
                 "algorithm not allowed for key");
}

TEST_CASE("JwtVerifier lets a key configured without a kid answer any kid", "[api][jwt]") {
  // A PEM key from the config has no kid; the pinned algorithm still decides.
  std::vector<JwtKey> keys = {TestKey::SharedEc().ToJwtKey("")};
  Result<JwtVerifier> verifier = JwtVerifier::Create(std::move(keys), Policy());
  REQUIRE(verifier.ok());
  const std::string payload = Payload();
  CHECK(verifier->Verify(MintEs256(TestKey::SharedEc(), R"({"alg":"ES256","kid":"dev"})", payload),
                         kNowTp)
            .ok());
  ExpectRejected(*verifier,
                 MintRs256(TestKey::SharedRsa(), R"({"alg":"RS256","kid":"dev"})", payload),
                 "algorithm not allowed for key");
  ExpectRejected(*verifier, MintHs256("secret", R"({"alg":"HS256","kid":"dev"})", payload),
                 "algorithm not allowed");
}

TEST_CASE("JwtVerifier rejects tampered tokens and unknown kids", "[api][jwt]") {
  const JwtVerifier verifier = MakeVerifier();
  const std::string token = EcToken();
  const std::size_t dot1 = token.find('.');
  const std::size_t dot2 = token.rfind('.');
  SECTION("payload") {
    ExpectRejected(verifier, Tamper(token, (dot1 + dot2) / 2), "bad signature");
    // A different, validly signed-looking payload under the original signature.
    const std::string forged =
        MintRaw(kEcHeader, Payload({{"sub", R"("mallory")"}}), token.substr(dot2 + 1));
    ExpectRejected(verifier, forged, "bad signature");
  }
  SECTION("signature") {
    ExpectRejected(verifier, Tamper(token, dot2 + 10), "bad signature");
    ExpectRejected(verifier, token.substr(0, dot2 + 1) + B64(std::string(64, '\0')),
                   "bad signature");
    ExpectRejected(verifier, token.substr(0, dot2 + 1) + B64(std::string(63, 'x')),
                   "bad signature");
    ExpectRejected(verifier, token.substr(0, dot2 + 1), "bad signature");
    const std::string rsa = MintRs256(TestKey::SharedRsa(), kRsaHeader, Payload());
    ExpectRejected(verifier, Tamper(rsa, rsa.rfind('.') + 20), "bad signature");
    const std::string rsa_input = rsa.substr(0, rsa.rfind('.'));
    const std::string rsa_sig = TestKey::SharedRsa().SignRs256(rsa_input);
    ExpectRejected(verifier, rsa_input + "." + B64(rsa_sig.substr(1)), "bad signature");
    ExpectRejected(verifier, rsa_input + "." + B64(rsa_sig + '\0'), "bad signature");
    ExpectRejected(verifier, rsa_input + "." + B64(std::string(1, '\0') + rsa_sig),
                   "bad signature");
  }
  SECTION("header") {
    const std::string other_header =
        MintRaw(R"({"alg":"ES256","kid":"ec-1","typ":"jwt"})", Payload(), token.substr(dot2 + 1));
    ExpectRejected(verifier, other_header, "bad signature");
  }
  SECTION("kid") {
    ExpectRejected(verifier,
                   MintEs256(TestKey::SharedEc(), R"({"alg":"ES256","kid":"ec-9"})", Payload()),
                   "unknown kid");
    ExpectRejected(verifier,
                   MintEs256(TestKey::SharedEc(), R"({"alg":"ES256","kid":""})", Payload()),
                   "unknown kid");
    ExpectRejected(verifier,
                   MintEs256(TestKey::SharedEc(), R"({"alg":"ES256","kid":1})", Payload()),
                   "bad kid");
  }
}

TEST_CASE("JwtVerifier accepts roles only as an array of strings", "[api][jwt]") {
  const JwtVerifier verifier = MakeVerifier();
  ExpectRejected(verifier, EcToken(Payload({{"roles", R"("admin")"}})), "bad roles");
  ExpectRejected(verifier, EcToken(Payload({{"roles", R"({"admin":true})"}})), "bad roles");
  ExpectRejected(verifier, EcToken(Payload({{"roles", R"(["admin",1])"}})), "bad roles");
  ExpectRejected(verifier, EcToken(Payload({{"roles", R"([["admin"]])"}})), "bad roles");
  ExpectRejected(verifier, EcToken(Payload({{"roles", "null"}})), "bad roles");
  Result<VerifiedToken> none = verifier.Verify(EcToken(Payload({{"roles", ""}})), kNowTp);
  REQUIRE(none.ok());
  CHECK(none->roles.empty());
  Result<VerifiedToken> empty = verifier.Verify(EcToken(Payload({{"roles", "[]"}})), kNowTp);
  REQUIRE(empty.ok());
  CHECK(empty->roles.empty());
}

TEST_CASE("JwtVerifier takes the user from the configured owner claim", "[api][jwt]") {
  JwtPolicy by_email = Policy();
  by_email.owner_claim = "email";
  const JwtVerifier email_verifier = MakeVerifier(by_email);
  Result<VerifiedToken> token = email_verifier.Verify(EcToken(), kNowTp);
  REQUIRE(token.ok());
  CHECK(token->user == "alice@example.com");
  ExpectRejected(email_verifier, EcToken(Payload({{"email", ""}})), "no owner claim");

  const JwtVerifier verifier = MakeVerifier();
  ExpectRejected(verifier, EcToken(Payload({{"sub", ""}})), "no owner claim");
  ExpectRejected(verifier, EcToken(Payload({{"sub", R"("")"}})), "bad owner claim");
  ExpectRejected(verifier, EcToken(Payload({{"sub", "42"}})), "bad owner claim");
  ExpectRejected(verifier, EcToken(Payload({{"sub", R"(["alice"])"}})), "bad owner claim");
  ExpectRejected(verifier, EcToken(Payload({{"sub", "null"}})), "bad owner claim");
  ExpectRejected(verifier, EcToken(Payload({{"sub", R"("alice\nadmin")"}})), "bad owner claim");
  ExpectRejected(verifier, EcToken(Payload({{"sub", "\"" + std::string(257, 'a') + "\""}})),
                 "bad owner claim");
  Result<VerifiedToken> longest =
      verifier.Verify(EcToken(Payload({{"sub", "\"" + std::string(256, 'a') + "\""}})), kNowTp);
  REQUIRE(longest.ok());
  CHECK(longest->user.size() == 256);
}

TEST_CASE("JwtVerifier rejects malformed tokens", "[api][jwt]") {
  const JwtVerifier verifier = MakeVerifier();
  const std::string token = EcToken();
  ExpectRejected(verifier, "", "three segments");
  ExpectRejected(verifier, token.substr(0, token.rfind('.')), "three segments");
  ExpectRejected(verifier, token + ".", "three segments");
  ExpectRejected(verifier, token + "." + B64("x"), "three segments");
  ExpectRejected(verifier, "Bearer " + token, "not base64url");
  ExpectRejected(verifier, token.substr(0, 4) + "=" + token.substr(4), "not base64url");
  ExpectRejected(verifier, token + "=", "not base64url");
  ExpectRejected(verifier, "..", "not a JSON object");

  const std::string payload = Payload();
  ExpectRejected(verifier, MintEs256(TestKey::SharedEc(), "not json", payload),
                 "header is not a JSON object");
  ExpectRejected(verifier, MintEs256(TestKey::SharedEc(), R"(["ES256"])", payload),
                 "header is not a JSON object");
  ExpectRejected(verifier, MintEs256(TestKey::SharedEc(), "\"ES256\"", payload),
                 "header is not a JSON object");
  ExpectRejected(verifier, EcToken("[]"), "payload is not a JSON object");
  ExpectRejected(verifier, EcToken("\"alice\""), "payload is not a JSON object");
  ExpectRejected(verifier, EcToken(payload + "x"), "payload is not a JSON object");
  // Signed, but the payload segment itself is not base64url.
  const std::string input = B64(kEcHeader) + ".e30=";
  ExpectRejected(verifier, input + "." + B64(TestKey::SharedEc().SignEs256(input)),
                 "not base64url");
}

TEST_CASE("JwtVerifier rejects crit, foreign typ and duplicate members", "[api][jwt]") {
  const JwtVerifier verifier = MakeVerifier();
  const std::string payload = Payload();
  ExpectRejected(
      verifier,
      MintEs256(TestKey::SharedEc(), R"({"alg":"ES256","crit":["exp"],"exp":1})", payload),
      "critical header");
  ExpectRejected(verifier,
                 MintEs256(TestKey::SharedEc(), R"({"alg":"ES256","typ":"JWS"})", payload),
                 "bad token type");
  ExpectRejected(verifier, MintEs256(TestKey::SharedEc(), R"({"alg":"ES256","typ":1})", payload),
                 "bad token type");
  ExpectRejected(verifier,
                 MintEs256(TestKey::SharedEc(), R"({"alg":"ES256","alg":"ES256"})", payload),
                 "header is not a JSON object");
  // boost::json would keep the last "sub"; other readers keep the first.
  ExpectRejected(verifier,
                 EcToken(R"({"iss":"https://idp.example","aud":"escrow-vault",)"
                         R"("sub":"alice","sub":"admin","exp":)" +
                         std::to_string(kExp) + "}"),
                 "payload is not a JSON object");
}

TEST_CASE("JwtVerifier rejects tokens over 8 KiB", "[api][jwt]") {
  const JwtVerifier verifier = MakeVerifier();
  const std::size_t base = EcToken(Payload({{"pad", R"("")"}})).size();
  // Each 3 payload bytes add 4 token characters.
  auto padded = [&](std::size_t token_size) {
    const std::size_t extra = (token_size - base) / 4 * 3;
    std::string quoted(extra + 2, 'p');  // built in place: GCC 12 -Wrestrict false positive
    quoted.front() = '"';
    quoted.back() = '"';
    return EcToken(Payload({{"pad", quoted}}));
  };
  const std::string at_limit = padded(JwtVerifier::kMaxTokenBytes);
  REQUIRE(at_limit.size() <= JwtVerifier::kMaxTokenBytes);
  REQUIRE(at_limit.size() > JwtVerifier::kMaxTokenBytes - 4);
  CHECK(verifier.Verify(at_limit, kNowTp).ok());
  const std::string over = padded(JwtVerifier::kMaxTokenBytes + 4);
  REQUIRE(over.size() > JwtVerifier::kMaxTokenBytes);
  ExpectRejected(verifier, over, "token too large");
}

TEST_CASE("JwtVerifier::Create validates keys and policy", "[api][jwt]") {
  auto create = [](std::vector<JwtKey> keys, JwtPolicy policy = Policy()) {
    return JwtVerifier::Create(std::move(keys), std::move(policy)).status().code();
  };
  const JwtKey ec = TestKey::SharedEc().ToJwtKey("ec");
  CHECK(create({ec}) == Code::kOk);
  CHECK(create({}) == Code::kInvalidArgument);
  JwtKey relabelled = ec;
  relabelled.alg = JwtKey::Alg::kRS256;
  CHECK(create({relabelled}) == Code::kInvalidArgument);
  JwtKey null_key = ec;
  null_key.pkey = nullptr;
  CHECK(create({null_key}) == Code::kInvalidArgument);
  CHECK(create({ec, TestKey::SharedRsa().ToJwtKey("ec")}) == Code::kInvalidArgument);
  CHECK(create({TestKey::SharedEc().ToJwtKey(""), TestKey::SharedRsa().ToJwtKey("")}) == Code::kOk);

  JwtPolicy policy = Policy();
  policy.audience.clear();
  CHECK(create({ec}, policy) == Code::kInvalidArgument);
  policy = Policy();
  policy.owner_claim.clear();
  CHECK(create({ec}, policy) == Code::kInvalidArgument);
  policy = Policy();
  policy.skew = std::chrono::seconds(-1);
  CHECK(create({ec}, policy) == Code::kInvalidArgument);
  policy.skew = std::chrono::hours(2);
  CHECK(create({ec}, policy) == Code::kInvalidArgument);
}

TEST_CASE("JwtVerifier is shared by threads and its copies", "[api][jwt]") {
  const JwtVerifier verifier = MakeVerifier();
  const JwtVerifier copy = verifier;  // shares the keys
  const std::string es = EcToken();
  const std::string rs = MintRs256(TestKey::SharedRsa(), kRsaHeader, Payload());
  const std::string bad = Tamper(es, es.rfind('.') + 5);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      const JwtVerifier& v = t % 2 == 0 ? verifier : copy;
      for (int i = 0; i < 25; ++i) {
        if (!v.Verify(es, kNowTp).ok() || !v.Verify(rs, kNowTp).ok() ||
            v.Verify(bad, kNowTp).ok() || ERR_peek_error() != 0) {
          ++failures;
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  CHECK(failures == 0);
}

// kMaxCachedTokens + 100 distinct valid tokens (by jti), minted once per process. Even ones
// expire at kExp, odd ones 1000 s later.
const std::vector<std::string>& DistinctTokens() {
  static const std::vector<std::string> tokens = [] {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < JwtVerifier::kMaxCachedTokens + 100; ++i) {
      const std::int64_t exp = kExp + static_cast<std::int64_t>(i % 2) * 1000;
      out.push_back(EcToken(Payload({{"jti", std::to_string(i)}, {"exp", std::to_string(exp)}})));
    }
    return out;
  }();
  return tokens;
}

std::string MessageOf(const Result<VerifiedToken>& result) {
  REQUIRE_FALSE(result.ok());
  return result.status().message();
}

TEST_CASE("JwtVerifier caches a verified token and answers a repeat identically",
          "[api][jwt][cache]") {
  const JwtVerifier verifier = MakeVerifier();
  const std::string token = EcToken();
  REQUIRE(verifier.cached_tokens() == 0);
  Result<VerifiedToken> first = verifier.Verify(token, kNowTp);
  REQUIRE(first.ok());
  CHECK(verifier.cached_tokens() == 1);
  Result<VerifiedToken> second = verifier.Verify(token, FromUnixSeconds(kNow + 30));
  REQUIRE(second.ok());
  CHECK(second->user == first->user);
  CHECK(second->roles == first->roles);
  CHECK(second->exp == first->exp);
  CHECK(second->user == "alice");
  CHECK(second->roles == std::vector<std::string>{"helpdesk", "auditor"});
  CHECK(second->exp == kExp);
  CHECK(verifier.cached_tokens() == 1);
}

TEST_CASE("JwtVerifier re-checks exp and nbf of a cached token on every call",
          "[api][jwt][cache]") {
  const JwtVerifier verifier = MakeVerifier();
  const JwtVerifier uncached = MakeVerifier();  // a separate verifier has its own cache
  SECTION("exp: accepted up to exp + skew, then rejected and forgotten") {
    const std::string token = EcToken();
    REQUIRE(verifier.Verify(token, kNowTp).ok());
    REQUIRE(verifier.cached_tokens() == 1);
    CHECK(verifier.Verify(token, FromUnixSeconds(kExp + 60)).ok());  // the boundary, as CheckTimes
    CHECK(verifier.cached_tokens() == 1);

    const TimePoint late = FromUnixSeconds(kExp + 61);
    const std::string expected = MessageOf(uncached.Verify(token, late));
    CHECK(expected == "token expired");
    ExpectRejected(verifier, token, "token expired", late);
    CHECK(MessageOf(verifier.Verify(token, late)) == expected);
    CHECK(verifier.cached_tokens() == 0);
    CHECK(uncached.cached_tokens() == 0);
  }
  SECTION("nbf: a cached token presented before nbf - skew is not yet valid") {
    const std::string token = EcToken(Payload({{"nbf", std::to_string(kNow + 60)}}));
    REQUIRE(verifier.Verify(token, kNowTp).ok());  // nbf within skew
    REQUIRE(verifier.cached_tokens() == 1);
    const TimePoint early = FromUnixSeconds(kNow - 1);
    const std::string expected = MessageOf(uncached.Verify(token, early));
    CHECK(expected == "token not yet valid");
    ExpectRejected(verifier, token, "token not yet valid", early);
    CHECK(MessageOf(verifier.Verify(token, early)) == expected);
    // Not expired, so it stays cached and is accepted again once within its window.
    CHECK(verifier.cached_tokens() == 1);
    CHECK(verifier.Verify(token, kNowTp).ok());
  }
}

TEST_CASE("JwtVerifier rejects a changed token even when the original is cached",
          "[api][jwt][cache]") {
  const JwtVerifier verifier = MakeVerifier();
  const std::string token = EcToken();
  REQUIRE(verifier.Verify(token, kNowTp).ok());
  REQUIRE(verifier.cached_tokens() == 1);
  const std::size_t dot1 = token.find('.');
  const std::size_t dot2 = token.rfind('.');
  ExpectRejected(verifier, Tamper(token, dot2 + 10), "bad signature");
  ExpectRejected(verifier, Tamper(token, (dot1 + dot2) / 2), "bad signature");
  ExpectRejected(verifier, Tamper(token, 5), "");  // header: any rejection
  CHECK(verifier.cached_tokens() == 1);
  CHECK(verifier.Verify(token, kNowTp).ok());
}

TEST_CASE("JwtVerifier never caches a rejected token", "[api][jwt][cache]") {
  const JwtVerifier verifier = MakeVerifier();
  const std::string token = EcToken();
  ExpectRejected(verifier, Tamper(token, token.rfind('.') + 10), "bad signature");
  ExpectRejected(verifier, EcToken(Payload({{"aud", R"("other")"}})), "wrong audience");
  ExpectRejected(verifier, token, "token expired", FromUnixSeconds(kExp + 61));
  ExpectRejected(verifier, EcToken(Payload({{"nbf", std::to_string(kNow + 61)}})), "not yet valid");
  ExpectRejected(verifier, EcToken(Payload({{"sub", "42"}})), "bad owner claim");
  ExpectRejected(verifier,
                 MintEs256(TestKey::SharedEc(), R"({"alg":"ES256","kid":"ec-9"})", Payload()),
                 "unknown kid");
  ExpectRejected(verifier, "a.b.c", "");
  CHECK(verifier.cached_tokens() == 0);
  // Rejecting again still takes the full path and still does not cache.
  ExpectRejected(verifier, token, "token expired", FromUnixSeconds(kExp + 61));
  CHECK(verifier.cached_tokens() == 0);
  REQUIRE(verifier.Verify(token, kNowTp).ok());
  CHECK(verifier.cached_tokens() == 1);
}

TEST_CASE("JwtVerifier holds at most kMaxCachedTokens tokens", "[api][jwt][cache]") {
  const std::vector<std::string>& tokens = DistinctTokens();
  const JwtVerifier verifier = MakeVerifier();
  std::size_t failures = 0;
  std::size_t max_seen = 0;
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    Result<VerifiedToken> result = verifier.Verify(tokens[i], kNowTp);
    if (!result.ok()) ++failures;
    max_seen = std::max(max_seen, verifier.cached_tokens());
    if (i < JwtVerifier::kMaxCachedTokens && verifier.cached_tokens() != i + 1) ++failures;
  }
  CHECK(failures == 0);
  CHECK(max_seen == JwtVerifier::kMaxCachedTokens);
  CHECK(verifier.cached_tokens() == JwtVerifier::kMaxCachedTokens);
  // Evicted tokens are verified again in full; the bound holds.
  CHECK(verifier.Verify(tokens.front(), kNowTp).ok());
  CHECK(verifier.cached_tokens() == JwtVerifier::kMaxCachedTokens);
}

TEST_CASE("JwtVerifier drops expired tokens before evicting live ones", "[api][jwt][cache]") {
  const std::vector<std::string>& tokens = DistinctTokens();
  const JwtVerifier verifier = MakeVerifier();
  for (std::size_t i = 0; i < JwtVerifier::kMaxCachedTokens; ++i) {
    REQUIRE(verifier.Verify(tokens[i], kNowTp).ok());
  }
  REQUIRE(verifier.cached_tokens() == JwtVerifier::kMaxCachedTokens);
  // Past the even tokens' exp + skew: inserting into the full cache drops exactly those.
  const TimePoint later = FromUnixSeconds(kExp + 61);
  const std::string& odd_new = tokens[JwtVerifier::kMaxCachedTokens + 1];
  REQUIRE(verifier.Verify(odd_new, later).ok());
  CHECK(verifier.cached_tokens() == JwtVerifier::kMaxCachedTokens / 2 + 1);
  // The live (odd) tokens survived: verifying them again adds nothing.
  for (std::size_t i = 1; i < JwtVerifier::kMaxCachedTokens; i += 2) {
    REQUIRE(verifier.Verify(tokens[i], later).ok());
  }
  CHECK(verifier.cached_tokens() == JwtVerifier::kMaxCachedTokens / 2 + 1);
}

TEST_CASE("JwtVerifier copies share one cache - separately created verifiers do not",
          "[api][jwt][cache]") {
  const JwtVerifier verifier = MakeVerifier();
  const JwtVerifier copy = verifier;  // NOLINT(performance-unnecessary-copy-initialization)
  const JwtVerifier other = MakeVerifier();
  const std::string alice = EcToken();
  const std::string bob = EcToken(Payload({{"sub", R"("bob")"}}));
  REQUIRE(verifier.Verify(alice, kNowTp).ok());
  CHECK(copy.cached_tokens() == 1);
  REQUIRE(copy.Verify(bob, kNowTp).ok());
  CHECK(verifier.cached_tokens() == 2);
  CHECK(other.cached_tokens() == 0);
  // An expiry seen through the copy removes the entry for both.
  ExpectRejected(copy, alice, "token expired", FromUnixSeconds(kExp + 61));
  CHECK(verifier.cached_tokens() == 1);
  Result<VerifiedToken> from_copy = verifier.Verify(bob, kNowTp);
  REQUIRE(from_copy.ok());
  CHECK(from_copy->user == "bob");
}

TEST_CASE("JwtVerifier's cache gives correct answers to concurrent callers", "[api][jwt][cache]") {
  const JwtVerifier verifier = MakeVerifier();
  const std::string shared = EcToken();
  const std::string bad = Tamper(shared, shared.rfind('.') + 10);
  constexpr int kThreads = 4;
  std::vector<std::string> own;
  for (int t = 0; t < kThreads; ++t) {
    own.push_back(EcToken(Payload({{"sub", "\"user-" + std::to_string(t) + "\""}})));
  }
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string user = "user-" + std::to_string(t);
      for (int i = 0; i < 200; ++i) {
        Result<VerifiedToken> a = verifier.Verify(shared, kNowTp);
        Result<VerifiedToken> b = verifier.Verify(own[static_cast<std::size_t>(t)], kNowTp);
        Result<VerifiedToken> c = verifier.Verify(bad, kNowTp);
        // Expiring the shared token erases it while other threads insert and find it.
        bool expired_rejected = true;
        if (i % 10 == 0) {
          Result<VerifiedToken> d = verifier.Verify(shared, FromUnixSeconds(kExp + 61));
          expired_rejected = !d.ok() && d.status().message() == "token expired";
        }
        if (!a.ok() || a->user != "alice" || a->exp != kExp || !b.ok() || b->user != user ||
            c.ok() || c.status().message() != "bad signature" || !expired_rejected ||
            ERR_peek_error() != 0) {
          ++failures;
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  CHECK(failures == 0);
  REQUIRE(verifier.Verify(shared, kNowTp).ok());
  CHECK(verifier.cached_tokens() == kThreads + 1);
}

TEST_CASE("JwtVerifier verification speed", "[api][jwt][.bench]") {
  constexpr int kRounds = 500;
  for (const bool es256 : {true, false}) {
    const JwtVerifier verifier = MakeVerifier();
    std::vector<std::string> tokens;
    for (int i = 0; i < kRounds; ++i) {
      const std::string payload = Payload({{"jti", std::to_string(i)}});
      tokens.push_back(es256 ? EcToken(payload)
                             : MintRs256(TestKey::SharedRsa(), kRsaHeader, payload));
    }
    // The first pass verifies every token in full; the second finds each in the cache.
    for (const char* pass : {"uncached", "cached"}) {
      const auto start = std::chrono::steady_clock::now();
      for (const std::string& token : tokens) REQUIRE(verifier.Verify(token, kNowTp).ok());
      const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::steady_clock::now() - start)
                          .count();
      WARN((es256 ? "ES256 " : "RS256 ") << pass << ": " << ns / kRounds << " ns per verification");
    }
  }
}

}  // namespace
}  // namespace escrow::auth
