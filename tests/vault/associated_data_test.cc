#include "vault/associated_data.h"

#include <vector>

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

storage::KeyVersionRow Row() {
  storage::KeyVersionRow row;
  row.device_id = "mac-1";
  row.version = 2;
  row.kind = Platform::kMacos;
  row.owner = "alice";
  row.ownership = Ownership::kPersonal;
  row.master_key_version = 3;
  return row;
}

TEST_CASE("AadForRow is the associated data of the row's recorded fields", "[vault][aad]") {
  const storage::KeyVersionRow row = Row();
  Result<Bytes> aad = AadForRow(row);
  REQUIRE(aad.ok());
  CHECK(*aad == RecoveryKeyAad(Platform::kMacos, "mac-1", 2, 3, Ownership::kPersonal, "alice"));
  Result<Bytes> under_4 = AadForRow(row, 4);
  REQUIRE(under_4.ok());
  CHECK(*under_4 == RecoveryKeyAad(Platform::kMacos, "mac-1", 2, 4, Ownership::kPersonal, "alice"));
  storage::KeyVersionRow longest = Row();
  longest.owner.assign(65535, 'o');
  longest.device_id.assign(65535, 'd');
  CHECK(AadForRow(longest).ok());
}

TEST_CASE("AadForRow refuses a row we cannot have written", "[vault][aad]") {
  std::vector<storage::KeyVersionRow> bad(5, Row());
  // Typed rows hold only known values when read; a row built in code may still hold others.
  bad[0].kind = static_cast<Platform>(0x41);
  bad[1].ownership = static_cast<Ownership>(9);
  bad[2].owner.assign(65536, 'o');
  bad[3].device_id.assign(65536, 'd');
  bad[4].kind = static_cast<Platform>(0);
  for (const storage::KeyVersionRow& row : bad) {
    for (const Result<Bytes>& aad : {AadForRow(row), AadForRow(row, 9)}) {
      REQUIRE_FALSE(aad.ok());
      CHECK(aad.status().code() == Code::kDataLoss);
      CHECK(aad.status().reason() == "integrity_error");
      CHECK(aad.status().message() == "A stored record failed its integrity check.");
    }
  }
}

}  // namespace
}  // namespace escrow::vault
