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
  bad.push_back(Row());
  bad.back().key_id = std::string(65536, 'k');
  for (const storage::KeyVersionRow& row : bad) {
    for (const Result<Bytes>& aad : {AadForRow(row), AadForRow(row, 9)}) {
      REQUIRE_FALSE(aad.ok());
      CHECK(aad.status().code() == Code::kDataLoss);
      CHECK(aad.status().reason() == "integrity_error");
      CHECK(aad.status().message() == "A stored record failed its integrity check.");
    }
  }
}

TEST_CASE("A version with a key ID is sealed under format 2: format 1's fields, then the ID",
          "[vault][aad]") {
  const std::string_view guid = "1A2B3C4D-5E6F-7A8B-9C0D-1E2F3A4B5C6D";
  Bytes aad =
      RecoveryKeyAad(Platform::kWindows, "win-1", 2, 3, Ownership::kCorporate, "alice", guid);
  Bytes want;
  Append(want, std::string_view("escrow-rk"));
  want.insert(want.end(), {2, 2, 0, 5});
  Append(want, std::string_view("win-1"));
  want.insert(want.end(), {0, 0, 0, 2, 0, 0, 0, 3, 1, 0, 5});
  Append(want, std::string_view("alice"));
  want.insert(want.end(), {0, 36});
  Append(want, guid);
  CHECK(HexEncode(aad) == HexEncode(want));
  // Without an ID, format 1 byte for byte: rows stored before keep opening.
  Bytes format1 = RecoveryKeyAad(Platform::kWindows, "win-1", 2, 3, Ownership::kCorporate, "alice");
  CHECK(format1 ==
        RecoveryKeyAad(Platform::kWindows, "win-1", 2, 3, Ownership::kCorporate, "alice",
                       std::nullopt));
  CHECK(format1[9] == 1);
  // Another ID, an ID moved into the owner, or an empty one: all different bytes.
  CHECK(aad != RecoveryKeyAad(Platform::kWindows, "win-1", 2, 3, Ownership::kCorporate, "alice",
                              std::string_view("1A2B3C4D-5E6F-7A8B-9C0D-1E2F3A4B5C6E")));
  CHECK(RecoveryKeyAad(Platform::kLinux, "a", 1, 1, Ownership::kCorporate, "bc",
                       std::string_view("d")) !=
        RecoveryKeyAad(Platform::kLinux, "a", 1, 1, Ownership::kCorporate, "b",
                       std::string_view("cd")));
  CHECK(RecoveryKeyAad(Platform::kLinux, "a", 1, 1, Ownership::kCorporate, "b",
                       std::string_view("")) != format1);
}

TEST_CASE("AadForRow seals a row with a key ID under format 2, under any master key",
          "[vault][aad]") {
  storage::KeyVersionRow row = Row();
  row.key_id = "slot:1";
  Result<Bytes> aad = AadForRow(row);
  REQUIRE(aad.ok());
  CHECK(*aad == RecoveryKeyAad(Platform::kMacos, "mac-1", 2, 3, Ownership::kPersonal, "alice",
                               std::string_view("slot:1")));
  Result<Bytes> under_4 = AadForRow(row, 4);
  REQUIRE(under_4.ok());
  CHECK(*under_4 == RecoveryKeyAad(Platform::kMacos, "mac-1", 2, 4, Ownership::kPersonal, "alice",
                                   std::string_view("slot:1")));
  row.key_id.reset();
  CHECK(AadForRow(row).value() ==
        RecoveryKeyAad(Platform::kMacos, "mac-1", 2, 3, Ownership::kPersonal, "alice"));
}

}  // namespace
}  // namespace escrow::vault
