// Migration 8's fields of a key version (key ID, source, verify mark) and the lookup of
// devices by key ID, on every backend.
#include <catch2/catch.hpp>

#include "tests/storage/conformance/backends.h"

namespace escrow::storage {
namespace {

using testing::Backends;
using testing::BackendStore;
using testing::GetKeyVersion;
using testing::MakeDevice;
using testing::MakeKeyVersion;
using testing::MustWrite;

KeyVersionRow WithKeyId(std::string device, std::uint32_t version, std::string key_id,
                        std::string owner = "alice") {
  KeyVersionRow row = MakeKeyVersion(std::move(device), version);
  row.key_id = std::move(key_id);
  row.owner = std::move(owner);
  row.source = KeySource::kMdm;
  return row;
}

template <class Backend>
struct KeyIdFixture : BackendStore<Backend> {
  KeyIdFixture() {
    MustWrite(*this->owned_store, [](WriteTxn& txn) {
      ESCROW_RETURN_IF_ERROR(txn.devices().Upsert(MakeDevice("dev-a", "alice")));
      ESCROW_RETURN_IF_ERROR(txn.devices().Upsert(MakeDevice("dev-b", "bob")));
      ESCROW_RETURN_IF_ERROR(txn.devices().Upsert(MakeDevice("dev-c", "carol")));
      ESCROW_RETURN_IF_ERROR(txn.versions().Insert(
          WithKeyId("dev-a", 1, "1A2B3C4D-0000-0000-0000-00000000000A", "alice")));
      // Stored under a previous owner (alice), the device now bob's.
      ESCROW_RETURN_IF_ERROR(txn.versions().Insert(
          WithKeyId("dev-b", 1, "1A2B3C4D-0000-0000-0000-00000000000B", "alice")));
      ESCROW_RETURN_IF_ERROR(txn.versions().Insert(
          WithKeyId("dev-b", 2, "1A2B3C4E-0000-0000-0000-00000000000B", "bob")));
      ESCROW_RETURN_IF_ERROR(
          txn.versions().Insert(WithKeyId("dev-c", 1, "1A2B3C4D-DEAD", "carol")));
      ESCROW_RETURN_IF_ERROR(txn.versions().SetState("dev-c", 1, VersionState::kDestroyed));
      return txn.versions().Insert(MakeKeyVersion("dev-c", 2));  // no key ID
    });
  }
  std::vector<std::string> Find(std::string_view key_id, bool prefix,
                                std::optional<std::string_view> owner = std::nullopt,
                                std::optional<std::string_view> after = std::nullopt,
                                std::size_t limit = 100) {
    auto rows = ReadValue(*this->owned_store, [&](ReadTxn& txn) {
      return txn.devices().ListByKeyId(key_id, prefix, owner, after, limit);
    });
    INFO(rows.status().ToString());
    REQUIRE(rows.ok());
    std::vector<std::string> ids;
    for (const DeviceRow& row : *rows) ids.push_back(row.id);
    return ids;
  }
};

using Ids = std::vector<std::string>;

TEMPLATE_LIST_TEST_CASE_METHOD(KeyIdFixture, "Store keeps a version's key ID, source and mark",
                               "[storage][conformance][key_id]", Backends) {
  Store& store = *this->owned_store;
  auto got = GetKeyVersion(store, "dev-a", 1);
  REQUIRE(got.ok());
  REQUIRE(got->has_value());
  CHECK((*got)->key_id == "1A2B3C4D-0000-0000-0000-00000000000A");
  CHECK((*got)->source == KeySource::kMdm);
  CHECK_FALSE((*got)->verified_ms.has_value());
  auto plain = GetKeyVersion(store, "dev-c", 2);
  REQUIRE(plain.ok());
  CHECK_FALSE((*plain)->key_id.has_value());
  CHECK_FALSE((*plain)->source.has_value());

  MustWrite(store, [](WriteTxn& txn) { return txn.versions().SetVerified("dev-a", 1, 1234); });
  CHECK(GetKeyVersion(store, "dev-a", 1).value()->verified_ms == 1234);
  MustWrite(store,
            [](WriteTxn& txn) { return txn.versions().SetVerified("dev-a", 1, std::nullopt); });
  CHECK_FALSE(GetKeyVersion(store, "dev-a", 1).value()->verified_ms.has_value());
  Status missing = store.Write(
      [](WriteTxn& txn) { return txn.versions().SetVerified("dev-a", 9, std::int64_t{1}); });
  CHECK(missing.code() == Code::kNotFound);
}

TEMPLATE_LIST_TEST_CASE_METHOD(KeyIdFixture, "Store refuses a key ID outside 1 to 64 characters",
                               "[storage][conformance][key_id]", Backends) {
  for (const std::string& bad : {std::string(), std::string(65, 'k')}) {
    Status s = this->owned_store->Write([&](WriteTxn& txn) {
      return txn.versions().Insert(WithKeyId("dev-a", 7, bad));
    });
    CHECK(s.code() == Code::kInvalidArgument);
  }
  Status ok = this->owned_store->Write([](WriteTxn& txn) {
    return txn.versions().Insert(WithKeyId("dev-a", 7, std::string(64, 'k')));
  });
  CHECK(ok.ok());
}

TEMPLATE_LIST_TEST_CASE_METHOD(KeyIdFixture, "Store finds devices by a key ID or its start",
                               "[storage][conformance][key_id]", Backends) {
  CHECK(this->Find("1A2B3C4D-0000-0000-0000-00000000000A", false) == Ids{"dev-a"});
  CHECK(this->Find("1A2B3C4D-0000-0000-0000-00000000000", false).empty());
  CHECK(this->Find("1A2B3C4D", true) == Ids{"dev-a", "dev-b"});  // dev-c's is destroyed
  CHECK(this->Find("1A2B3C4E", true) == Ids{"dev-b"});
  CHECK(this->Find("1a2b3c4d", true).empty());  // IDs are compared as stored
  CHECK(this->Find("1A2B3C4", true) == Ids{"dev-a", "dev-b"});
  // By the owner each version was recorded under, among the devices that owner has now:
  // dev-b's version recorded under alice does not find it for alice, bob's own does for bob.
  CHECK(this->Find("1A2B3C4D", true, "alice") == Ids{"dev-a"});
  CHECK(this->Find("1A2B3C4D-0000-0000-0000-00000000000B", false, "alice").empty());
  CHECK(this->Find("1A2B3C4D", true, "bob").empty());
  CHECK(this->Find("1A2B3C4", true, "bob") == Ids{"dev-b"});
  CHECK(this->Find("1A2B3C4D", true, "carol").empty());  // carol's is destroyed
  // Pages in id order.
  CHECK(this->Find("1A2B3C4D", true, std::nullopt, std::nullopt, 1) == Ids{"dev-a"});
  CHECK(this->Find("1A2B3C4D", true, std::nullopt, "dev-a", 1) == Ids{"dev-b"});
  CHECK(this->Find("1A2B3C4D", true, std::nullopt, "dev-b", 1).empty());
}

TEMPLATE_LIST_TEST_CASE_METHOD(KeyIdFixture, "Store pages devices found by a key ID prefix",
                               "[storage][conformance][key_id]", Backends) {
  // Seven more of alice's devices under one BitLocker prefix, two of them found twice (two
  // versions), one only by a destroyed version, and one of bob's between them.
  MustWrite(*this->owned_store, [](WriteTxn& txn) {
    for (int i = 1; i <= 7; ++i) {
      const std::string id = "win-" + std::to_string(i);
      ESCROW_RETURN_IF_ERROR(txn.devices().Upsert(MakeDevice(id, "alice")));
      ESCROW_RETURN_IF_ERROR(
          txn.versions().Insert(WithKeyId(id, 1, "9F8E7D6C-0000-" + std::to_string(i), "alice")));
    }
    for (const char* id : {"win-2", "win-5"}) {
      ESCROW_RETURN_IF_ERROR(txn.versions().Insert(WithKeyId(id, 2, "9F8E7D6C-1111", "alice")));
    }
    ESCROW_RETURN_IF_ERROR(txn.devices().Upsert(MakeDevice("win-4b", "bob")));
    ESCROW_RETURN_IF_ERROR(txn.versions().Insert(WithKeyId("win-4b", 1, "9F8E7D6C-BBBB", "bob")));
    ESCROW_RETURN_IF_ERROR(txn.devices().Upsert(MakeDevice("win-8", "alice")));
    ESCROW_RETURN_IF_ERROR(txn.versions().Insert(WithKeyId("win-8", 1, "9F8E7D6C-8888", "alice")));
    return txn.versions().SetState("win-8", 1, VersionState::kDestroyed);
  });
  auto walk = [&](std::optional<std::string_view> owner, std::size_t limit) {
    std::vector<Ids> pages;
    std::optional<std::string> after;
    for (int i = 0; i < 20; ++i) {
      Ids page = this->Find("9F8E7D6C", true, owner, after, limit);
      if (page.empty()) break;
      pages.push_back(page);
      after = page.back();
    }
    return pages;
  };

  SECTION("pages meet at their boundaries, each device once") {
    CHECK(walk(std::nullopt, 3) == std::vector<Ids>{{"win-1", "win-2", "win-3"},
                                                    {"win-4", "win-4b", "win-5"},
                                                    {"win-6", "win-7"}});
    CHECK(walk("alice", 3) ==
          std::vector<Ids>{{"win-1", "win-2", "win-3"}, {"win-4", "win-5", "win-6"}, {"win-7"}});
    CHECK(walk("bob", 3) == std::vector<Ids>{{"win-4b"}});
  }
  SECTION("limit 1 walks one device at a time") {
    CHECK(walk("alice", 1) ==
          std::vector<Ids>{
              {"win-1"}, {"win-2"}, {"win-3"}, {"win-4"}, {"win-5"}, {"win-6"}, {"win-7"}});
  }
  SECTION("after past the end gives an empty page") {
    CHECK(this->Find("9F8E7D6C", true, std::nullopt, "win-7", 5).empty());
    CHECK(this->Find("9F8E7D6C", true, "alice", "zzz", 5).empty());
    // An after that is no device of the listing starts after it all the same.
    CHECK(this->Find("9F8E7D6C", true, "alice", "win-4a", 2) == Ids{"win-5", "win-6"});
  }
}

}  // namespace
}  // namespace escrow::storage
