#include "base/bytes.h"

#include <catch2/catch.hpp>

namespace escrow {
namespace {

TEST_CASE("Hex encodes lowercase and decodes either case", "[base][bytes]") {
  Bytes b{0x00, 0xab, 0xFF};
  CHECK(HexEncode(b) == "00abff");
  CHECK(*HexDecode("00ABff") == b);
  CHECK_FALSE(HexDecode("0").has_value());
  CHECK_FALSE(HexDecode("zz").has_value());
}

TEST_CASE("Big-endian appenders", "[base][bytes]") {
  Bytes out;
  AppendU8(out, 1);
  AppendU16Be(out, 0x0203);
  AppendU32Be(out, 0x04050607);
  AppendU64Be(out, 0x08090a0b0c0d0e0fULL);
  Append(out, std::string_view("x"));
  CHECK(HexEncode(out) == "0102030405060708090a0b0c0d0e0f78");
}

}  // namespace
}  // namespace escrow
