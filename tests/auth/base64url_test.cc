#include "auth/base64url.h"

#include <string>

#include <catch2/catch.hpp>

namespace escrow::auth {
namespace {

TEST_CASE("Base64Url round-trips every length and byte value", "[api][jwt][base64url]") {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  for (std::size_t len = 0; len <= all.size(); ++len) {
    const std::string in = all.substr(all.size() - len);
    const std::string encoded = Base64UrlEncode(in);
    CHECK(encoded.find_first_of("=+/") == std::string::npos);
    const auto decoded = Base64UrlDecodeToString(encoded);
    REQUIRE(decoded.has_value());
    CHECK(*decoded == in);
  }
}

TEST_CASE("Base64Url matches the RFC 4648 vectors without padding", "[api][jwt][base64url]") {
  CHECK(Base64UrlEncode(std::string_view("")) == "");
  CHECK(Base64UrlEncode(std::string_view("f")) == "Zg");
  CHECK(Base64UrlEncode(std::string_view("fo")) == "Zm8");
  CHECK(Base64UrlEncode(std::string_view("foo")) == "Zm9v");
  CHECK(Base64UrlEncode(std::string_view("foob")) == "Zm9vYg");
  CHECK(Base64UrlEncode(std::string_view("\xfb\xff")) == "-_8");
  CHECK(Base64UrlDecode("-_8") == Bytes{0xfb, 0xff});
  CHECK(Base64UrlDecode("") == Bytes{});
}

TEST_CASE("Base64Url rejects padding, foreign characters and bad lengths",
          "[api][jwt][base64url]") {
  CHECK_FALSE(Base64UrlDecode("Zg==").has_value());
  CHECK_FALSE(Base64UrlDecode("Zm8=").has_value());
  CHECK_FALSE(Base64UrlDecode("+/8").has_value());  // standard base64 alphabet
  CHECK_FALSE(Base64UrlDecode("Zm 9v").has_value());
  CHECK_FALSE(Base64UrlDecode("Zm9v\n").has_value());
  CHECK_FALSE(Base64UrlDecode(std::string_view("Zm\09v", 5)).has_value());
  CHECK_FALSE(Base64UrlDecode("Z").has_value());      // 1 mod 4
  CHECK_FALSE(Base64UrlDecode("Zm9vY").has_value());  // 1 mod 4
  CHECK_FALSE(Base64UrlDecodeToString("Zm.9").has_value());
}

TEST_CASE("Base64Url rejects non-canonical trailing bits", "[api][jwt][base64url]") {
  CHECK(Base64UrlDecode("Zg").has_value());
  CHECK_FALSE(Base64UrlDecode("Zh").has_value());  // 4 unused bits not zero
  CHECK_FALSE(Base64UrlDecode("Zv").has_value());
  CHECK(Base64UrlDecode("Zm8").has_value());
  CHECK_FALSE(Base64UrlDecode("Zm9").has_value());  // 2 unused bits not zero
  CHECK_FALSE(Base64UrlDecode("Zm_").has_value());
}

}  // namespace
}  // namespace escrow::auth
