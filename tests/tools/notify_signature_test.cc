#include "tools/notify_signature.h"

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include <catch2/catch.hpp>

#include "tests/support/temp_dir.h"

namespace escrow::tools {
namespace {

constexpr const char* kHexKey = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
constexpr const char* kBody = R"({"events":[{"id":1}]})";

std::string WriteSecret(const testing::TempDir& dir, const std::string& text, mode_t mode) {
  const std::string path = dir.str() + "/notify.secret";
  std::ofstream(path, std::ios::trunc) << text;
  REQUIRE(::chmod(path.c_str(), mode) == 0);
  return path;
}

SecretBytes Load(const std::string& text) {
  testing::TempDir dir;
  Result<SecretBytes> s = LoadWebhookSecret(WriteSecret(dir, text, 0600));
  REQUIRE(s.ok());
  return std::move(*s);
}

TEST_CASE("SignatureHeader matches known answers made with openssl dgst", "[tools][notify]") {
  // printf '%s' '1700000000.{"events":[{"id":1}]}' |
  //   openssl dgst -sha256 -mac HMAC -macopt hexkey:000102...1f
  CHECK(SignatureHeader(Load(std::string(kHexKey) + "\n"), 1700000000, kBody) ==
        "t=1700000000,v1=c1d2a33a0585b9f72e7cd863aba5bc5291a0760a5e53d176640a074cd3b91ea7");
  CHECK(SignatureHeader(Load(kHexKey), 1700000000, "") ==
        "t=1700000000,v1=683c204f0469cec8715a24eadb293fca0bf8b70ff69483e4925095bd0f2b565d");
  // A secret whose bytes are printable: openssl dgst -sha256 -hmac 0123456789abcdef0123...
  CHECK(
      SignatureHeader(Load("  3031323334353637383961626364656630313233343536373839616263646566\n"),
                      1700000000, kBody) ==
      "t=1700000000,v1=1d441cd356e1bc4ea63a62a51e632a22d8781d82a2c0353a8f8ba6327ca2758f");
}

TEST_CASE("SignatureHeader agrees with the openssl command line for other bodies and times",
          "[tools][notify]") {
  testing::TempDir dir;
  const SecretBytes secret = Load(kHexKey);
  for (const std::string& body : {std::string(R"({"events":[]})"), std::string(5000, 'x'),
                                  std::string("caf\xc3\xa9 \"quoted\"\n")}) {
    const std::int64_t t = 1765000000 + static_cast<std::int64_t>(body.size());
    std::ofstream(dir.str() + "/msg", std::ios::binary | std::ios::trunc)
        << std::to_string(t) << "." << body;
    std::string out;
    REQUIRE(testing::RunCommand("openssl dgst -sha256 -mac HMAC -macopt hexkey:" +
                                    std::string(kHexKey) + " -r " + dir.str() + "/msg",
                                &out) == 0);
    CHECK(SignatureHeader(secret, t, body) ==
          "t=" + std::to_string(t) + ",v1=" + out.substr(0, 64));
  }
}

TEST_CASE("LoadWebhookSecret refuses a secret others can read, short or not hex",
          "[tools][notify]") {
  testing::TempDir dir;
  for (mode_t mode : {0640U, 0604U, 0660U, 0610U}) {
    Result<SecretBytes> s = LoadWebhookSecret(WriteSecret(dir, kHexKey, mode));
    REQUIRE_FALSE(s.ok());
    CHECK(s.status().message().find("accessible by group or others (chmod 600 it)") !=
          std::string::npos);
  }
  CHECK(LoadWebhookSecret(WriteSecret(dir, kHexKey, 0400)).ok());
  const std::string short_key(62, 'a');
  for (const std::string& bad : {short_key, std::string(kHexKey) + "0", std::string(64, 'g'),
                                 std::string(), std::string(kHexKey) + " zz"}) {
    Result<SecretBytes> s = LoadWebhookSecret(WriteSecret(dir, bad, 0600));
    REQUIRE_FALSE(s.ok());
    CHECK(s.status().code() == Code::kInvalidArgument);
    // The message never echoes the file's bytes.
    CHECK(s.status().message().find("aaaa") == std::string::npos);
    CHECK(s.status().message().find("0001020304") == std::string::npos);
  }
  CHECK(LoadWebhookSecret(dir.str() + "/missing").status().code() == Code::kNotFound);
  const std::string link = dir.str() + "/link";
  REQUIRE(::symlink((dir.str() + "/notify.secret").c_str(), link.c_str()) == 0);
  CHECK_FALSE(LoadWebhookSecret(link).ok());
}

}  // namespace
}  // namespace escrow::tools
