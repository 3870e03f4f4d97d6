#include "base/utf8.h"

#include <catch2/catch.hpp>

#include <string>

#include "base/bytes.h"

namespace escrow {
namespace {

TEST_CASE("IsCleanUtf8 accepts text and refuses broken sequences and controls", "[base][utf8]") {
  CHECK(IsCleanUtf8(AsBytes("")));
  CHECK(IsCleanUtf8(AsBytes("ticket 1234: Zoë's Mac, 日本, 🔑")));
  for (const std::string& bad :
       {std::string("\xff"), std::string("a\x80"), std::string("\xc0\xaf"),  // overlong '/'
        std::string("\xed\xa0\x80"),                                          // a surrogate
        std::string("\xf4\x90\x80\x80"),                                      // above U+10FFFF
        std::string("\xe2\x82"),                                              // cut short
        std::string("a\nb"), std::string("\x7f"), std::string("\xc2\x85"),   // controls, C1
        std::string("a\0b", 3)}) {
    INFO(HexEncode(AsBytes(bad)));
    CHECK_FALSE(IsCleanUtf8(AsBytes(bad)));
  }
}

TEST_CASE("EscapeText makes any bytes clean UTF-8 of bounded length", "[base][utf8]") {
  CHECK(EscapeText("plain Zoë", 100) == "plain Zoë");
  CHECK(EscapeText(std::string("a\xff\0b\n", 5), 100) == "a\\xff\\x00b\\x0a");
  // Clean text comes out unchanged, JSON escapes included.
  const std::string json = R"({"path":"C:\\x","q":"\"a\""})";
  CHECK(EscapeText(json, 100) == json);
  SECTION("a long text is cut at a character boundary and marked") {
    const std::string out = EscapeText(std::string(300, 'x') + "ë", 64);
    CHECK(out.size() <= 64);
    CHECK(out.substr(out.size() - 3) == "...");
    const std::string multi = EscapeText("ëëëëëëëëëë", 8);  // 2 bytes each
    CHECK(multi == "ëë...");
    CHECK(IsCleanUtf8(AsBytes(multi)));
  }
  SECTION("whatever the input, the output is clean and within the bound") {
    std::string all;
    for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
    for (std::size_t max : {0U, 3U, 4U, 5U, 16U, 200U, 2000U}) {
      const std::string out = EscapeText(all + all, max);
      INFO(max);
      CHECK(out.size() <= max);
      CHECK(IsCleanUtf8(AsBytes(out)));
    }
  }
}

}  // namespace
}  // namespace escrow
