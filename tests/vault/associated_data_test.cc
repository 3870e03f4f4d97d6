#include "vault/associated_data.h"

#include <catch2/catch.hpp>

namespace escrow::vault {
namespace {

TEST_CASE("Associated data is laid out byte for byte as DESIGN.md gives it",
          "[vault][aad]") {
  Bytes aad = RecoveryKeyAad(Platform::kMacos, "mac-1", 2, 3, Ownership::kPersonal, "alice");
  Bytes want;
  Append(want, std::string_view("escrow-rk"));
  want.insert(want.end(), {1, 1, 0, 5});
  Append(want, std::string_view("mac-1"));
  want.insert(want.end(), {0, 0, 0, 2, 0, 0, 0, 3, 2, 0, 5});
  Append(want, std::string_view("alice"));
  CHECK(HexEncode(aad) == HexEncode(want));
}

TEST_CASE("Length prefixes keep different rows from colliding", "[vault][aad]") {
  // Moving a character between device id and owner must change the bytes.
  CHECK(RecoveryKeyAad(Platform::kLinux, "ab", 1, 1, Ownership::kCorporate, "c") !=
        RecoveryKeyAad(Platform::kLinux, "a", 1, 1, Ownership::kCorporate, "bc"));
  CHECK(RecoveryKeyAad(Platform::kLinux, "a", 1, 1, Ownership::kCorporate, "b") !=
        RecoveryKeyAad(Platform::kWindows, "a", 1, 1, Ownership::kCorporate, "b"));
  CHECK(RecoveryKeyAad(Platform::kLinux, "a", 1, 1, Ownership::kCorporate, "b") !=
        RecoveryKeyAad(Platform::kLinux, "a", 1, 1, Ownership::kPersonal, "b"));
  CHECK(RecoveryKeyAad(Platform::kLinux, "a", 1, 2, Ownership::kCorporate, "b") !=
        RecoveryKeyAad(Platform::kLinux, "a", 2, 1, Ownership::kCorporate, "b"));
}

}  // namespace
}  // namespace escrow::vault
