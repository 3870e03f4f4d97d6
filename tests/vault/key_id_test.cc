#include "vault/key_id.h"

#include <string>

#include <catch2/catch.hpp>

namespace escrow::vault {
namespace {

constexpr const char* kGuid = "1A2B3C4D-5E6F-7A8B-9C0D-1E2F3A4B5C6D";

TEST_CASE("A BitLocker key ID is a GUID, stored upper case without braces", "[vault][key_id]") {
  for (const char* raw : {"1A2B3C4D-5E6F-7A8B-9C0D-1E2F3A4B5C6D",
                          "1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d",
                          "{1a2b3c4d-5E6F-7a8b-9c0d-1e2f3a4b5c6d}",
                          "{1A2B3C4D-5E6F-7A8B-9C0D-1E2F3A4B5C6D}"}) {
    INFO(raw);
    Result<std::string> id = NormalizeKeyId(Platform::kWindows, raw);
    REQUIRE(id.ok());
    CHECK(*id == kGuid);
  }
}

TEST_CASE("Anything but a GUID is refused as a BitLocker key ID", "[vault][key_id]") {
  for (const char* raw : {"", "1A2B3C4D", "1A2B3C4D5E6F7A8B9C0D1E2F3A4B5C6D",
                          "{1A2B3C4D-5E6F-7A8B-9C0D-1E2F3A4B5C6D",
                          "1A2B3C4D-5E6F-7A8B-9C0D-1E2F3A4B5C6D}",
                          "(1A2B3C4D-5E6F-7A8B-9C0D-1E2F3A4B5C6D)",
                          "1A2B3C4D-5E6F-7A8B-9C0D-1E2F3A4B5C6G",
                          "1A2B3C4D_5E6F-7A8B-9C0D-1E2F3A4B5C6D",
                          "1A2B3C4D-5E6F-7A8B-9C0D-1E2F3A4B5C6D0",
                          " 1A2B3C4D-5E6F-7A8B-9C0D-1E2F3A4B5C6D",
                          "{{1A2B3C4D-5E6F-7A8B-9C0D-1E2F3A4B5C6D}}"}) {
    INFO(raw);
    Result<std::string> id = NormalizeKeyId(Platform::kWindows, raw);
    REQUIRE_FALSE(id.ok());
    CHECK(id.status().code() == Code::kInvalidArgument);
    CHECK(id.status().reason() == "invalid_request");
  }
}

TEST_CASE("Other platforms' key IDs are up to 64 of [A-Za-z0-9._:-], kept as they are",
          "[vault][key_id]") {
  for (Platform p : {Platform::kMacos, Platform::kLinux}) {
    for (const std::string& raw : {std::string("luks-slot:0"), std::string("a.B_c-D:9"),
                                  std::string(64, 'x'), std::string("{guid-like}").substr(1, 9),
                                  std::string(kGuid), std::string("abc")}) {
      INFO(raw);
      Result<std::string> id = NormalizeKeyId(p, raw);
      REQUIRE(id.ok());
      CHECK(*id == raw);
    }
    for (const std::string& raw : {std::string(), std::string(65, 'x'), std::string("a b"),
                                  std::string("a/b"), std::string("{x}"), std::string("é"),
                                  std::string("a\nb"), std::string("a\0b", 3)}) {
      INFO(raw);
      Result<std::string> id = NormalizeKeyId(p, raw);
      REQUIRE_FALSE(id.ok());
      CHECK(id.status().reason() == "invalid_request");
    }
  }
}

TEST_CASE("A key ID search is a full ID or the first 8 hex digits, normalised like a store",
          "[vault][key_id]") {
  Result<KeyIdSearch> full = ParseKeyIdSearch("{1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d}");
  REQUIRE(full.ok());
  CHECK(full->key_id == kGuid);
  CHECK_FALSE(full->prefix);
  Result<KeyIdSearch> start = ParseKeyIdSearch("1a2b3c4d");
  REQUIRE(start.ok());
  CHECK(start->key_id == "1A2B3C4D");
  CHECK(start->prefix);
  Result<KeyIdSearch> other = ParseKeyIdSearch("luks-slot:0");
  REQUIRE(other.ok());
  CHECK(other->key_id == "luks-slot:0");
  CHECK_FALSE(other->prefix);
  for (const char* raw : {"", "1a2b3c4d%", "a b", "{1a2b3c4d}"}) {
    INFO(raw);
    CHECK(ParseKeyIdSearch(raw).status().reason() == "invalid_request");
  }
  // 7 or 9 hex digits are no prefix: exact IDs of other platforms, as given.
  CHECK_FALSE(ParseKeyIdSearch("1a2b3c4").value().prefix);
  CHECK_FALSE(ParseKeyIdSearch("1a2b3c4d5").value().prefix);
}

}  // namespace
}  // namespace escrow::vault
