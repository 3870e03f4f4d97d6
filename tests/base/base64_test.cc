#include "base/base64.h"

#include <catch2/catch.hpp>

#include <string>

namespace escrow {
namespace {

Bytes B(std::string_view s) { return {s.begin(), s.end()}; }

TEST_CASE("Base64 round-trips every length and matches RFC 4648's vectors", "[base][base64]") {
  CHECK(EncodeBase64(B("")).empty());
  CHECK(EncodeBase64(B("f")) == "Zg==");
  CHECK(EncodeBase64(B("fo")) == "Zm8=");
  CHECK(EncodeBase64(B("foo")) == "Zm9v");
  CHECK(EncodeBase64(B("foobar")) == "Zm9vYmFy");
  Bytes bytes;
  for (int n = 0; n < 40; ++n) {
    const std::string text = EncodeBase64(bytes);
    const Result<Bytes> back = DecodeBase64Strict(text, 1000);
    REQUIRE(back.ok());
    CHECK(*back == bytes);
    bytes.push_back(static_cast<std::uint8_t>(n * 37 + 250));
  }
  CHECK(*DecodeBase64Strict("+/+/", 3) == Bytes{0xFB, 0xFF, 0xBF});
}

TEST_CASE("Strict base64 refuses anything but canonical padded text", "[base][base64]") {
  for (const char* bad : {"Zg", "Zg=", "Zg===", "Z===", "====", "Zm9v\n", " Zm9v", "Zm 9v",
                          "Zm9", "Z=g=", "Zm=v", "-_8=", "Zh==", "Zm9=", "Zm9v====",
                          "Zm\x80v"}) {
    INFO(bad);
    const Result<Bytes> r = DecodeBase64Strict(bad, 1000);
    REQUIRE(!r.ok());
    CHECK(r.status().code() == Code::kInvalidArgument);
    CHECK(r.status().message() == "not base64");
  }
  const Result<Bytes> nul = DecodeBase64Strict(std::string_view("Zm9v\0AAA", 8), 1000);
  CHECK(!nul.ok());
}

TEST_CASE("Strict base64 refuses text that decodes past the bound before decoding",
          "[base][base64]") {
  CHECK(DecodeBase64Strict("Zm9vYmFy", 6).ok());
  const Result<Bytes> r = DecodeBase64Strict("Zm9vYmFy", 5);
  REQUIRE(!r.ok());
  CHECK(r.status().message() == "too large");
  CHECK(DecodeBase64Strict("Zm9vYg==", 4).ok());
  CHECK(!DecodeBase64Strict("Zm9vYg==", 3).ok());
}

}  // namespace
}  // namespace escrow
