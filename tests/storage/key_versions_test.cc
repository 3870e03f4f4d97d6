#include <catch2/catch.hpp>

#include "tests/storage/store_fixture.h"

namespace escrow::storage {
namespace {

using testing::MakeDevice;
using testing::MakeKeyVersion;
using testing::MustWrite;
using testing::StoreFixture;

using Counts = std::vector<std::pair<std::uint32_t, std::int64_t>>;

struct KeyVersionFixture : StoreFixture {
  std::unique_ptr<Store> store = Open();
  KeyVersionFixture() {
    MustWrite(*store, [](WriteTxn& txn) {
      ESCROW_RETURN_IF_ERROR(txn.UpsertDevice(MakeDevice("dev-1")));
      ESCROW_RETURN_IF_ERROR(txn.UpsertDevice(MakeDevice("dev-2")));
      ESCROW_RETURN_IF_ERROR(txn.InsertKeyVersion(MakeKeyVersion("dev-1", 1)));
      ESCROW_RETURN_IF_ERROR(txn.InsertKeyVersion(MakeKeyVersion("dev-1", 2)));
      return txn.InsertKeyVersion(MakeKeyVersion("dev-2", 1, /*master_key_version=*/2));
    });
  }
  KeyVersionRow Get(std::string_view device, std::uint32_t version) {
    auto row = store->GetKeyVersion(device, version);
    INFO(row.status().ToString());
    REQUIRE(row.ok());
    REQUIRE(row->has_value());
    return **row;
  }
};

TEST_CASE_METHOD(KeyVersionFixture, "Store inserts and reads key versions",
                 "[storage][key_versions]") {
  const KeyVersionRow expected = MakeKeyVersion("dev-1", 2);
  const KeyVersionRow got = Get("dev-1", 2);
  CHECK(got.device_id == "dev-1");
  CHECK(got.version == 2);
  CHECK(got.kind == expected.kind);
  CHECK(got.owner == expected.owner);
  CHECK(got.ownership == expected.ownership);
  CHECK(got.master_key_version == 1);
  CHECK(got.iv == expected.iv);
  CHECK(got.ciphertext == expected.ciphertext);
  CHECK(got.tag == expected.tag);
  CHECK(got.state == "active");
  CHECK(got.stored_ms == expected.stored_ms);
  CHECK(got.stored_by == "mdm");
  CHECK_FALSE(got.burned);

  auto missing = store->GetKeyVersion("dev-1", 9);
  REQUIRE(missing.ok());
  CHECK_FALSE(missing->has_value());

  auto versions = store->ListKeyVersions("dev-1");
  REQUIRE(versions.ok());
  REQUIRE(versions->size() == 2);
  CHECK((*versions)[0].version == 1);
  CHECK((*versions)[1].version == 2);
}

TEST_CASE_METHOD(KeyVersionFixture,
                 "The current version is the newest active one of the present owner and platform",
                 "[storage][key_versions]") {
  auto device = store->GetDevice("dev-1");
  REQUIRE(device.ok());
  REQUIRE(device->has_value());
  const DeviceRow dev = **device;
  auto current = [&](const DeviceRow& d) -> std::optional<std::uint32_t> {
    auto row = store->CurrentKeyVersion(d);
    INFO(row.status().ToString());
    REQUIRE(row.ok());
    if (!row->has_value()) return std::nullopt;
    return (*row)->version;
  };
  CHECK(current(dev) == 2u);  // both are active (the fixture does not supersede): the newest
  auto latest = store->LatestKeyVersionNumber("dev-1");
  REQUIRE(latest.ok());
  CHECK(*latest == 2u);
  auto none = store->LatestKeyVersionNumber("dev-9");
  REQUIRE(none.ok());
  CHECK(*none == 0u);

  SECTION("superseding leaves no current version, and burns nothing") {
    MustWrite(*store, [](WriteTxn& txn) { return txn.SupersedeActiveKeyVersions("dev-1"); });
    CHECK_FALSE(current(dev).has_value());
    CHECK(Get("dev-1", 1).state == "superseded");
    CHECK(Get("dev-1", 2).state == "superseded");
    CHECK(Get("dev-2", 1).state == "active");  // another device is untouched
    CHECK_FALSE(Get("dev-1", 2).burned);
    // Superseding nothing is not an error.
    MustWrite(*store, [](WriteTxn& txn) { return txn.SupersedeActiveKeyVersions("dev-1"); });
    auto latest_after = store->LatestKeyVersionNumber("dev-1");
    REQUIRE(latest_after.ok());
    CHECK(*latest_after == 2u);  // numbers are never reused
  }
  SECTION("a version of another owner, ownership or platform is not current") {
    DeviceRow other_owner = dev;
    other_owner.owner = "someone-else";
    CHECK_FALSE(current(other_owner).has_value());
    DeviceRow other_ownership = dev;
    other_ownership.ownership = dev.ownership == "corporate" ? "personal" : "corporate";
    CHECK_FALSE(current(other_ownership).has_value());
    DeviceRow other_platform = dev;
    other_platform.platform = dev.platform == "macos" ? "windows" : "macos";
    CHECK_FALSE(current(other_platform).has_value());
  }
  SECTION("only the newest active one counts when an older one is superseded") {
    MustWrite(*store, [](WriteTxn& txn) {
      return txn.SetKeyVersionState("dev-1", 2, "superseded");
    });
    CHECK(current(dev) == 1u);
  }
  SECTION("burning marks the active versions only, and lists them") {
    MustWrite(*store, [](WriteTxn& txn) {
      return txn.SetKeyVersionState("dev-1", 1, "superseded");
    });
    MustWrite(*store, [](WriteTxn& txn) { return txn.BurnActiveKeyVersions("dev-1"); });
    CHECK_FALSE(Get("dev-1", 1).burned);
    CHECK(Get("dev-1", 2).burned);
    CHECK_FALSE(Get("dev-2", 1).burned);
    auto burned = store->ListBurnedKeyVersions("dev-1");
    REQUIRE(burned.ok());
    REQUIRE(burned->size() == 1);
    CHECK((*burned)[0].version == 2u);
    MustWrite(*store, [](WriteTxn& txn) {
      return txn.SetKeyVersionState("dev-1", 2, "destroyed");
    });
    auto after_destroy = store->ListBurnedKeyVersions("dev-1");
    REQUIRE(after_destroy.ok());
    CHECK(after_destroy->empty());  // a destroyed version has nothing left to compare
  }
}

TEST_CASE_METHOD(KeyVersionFixture, "Store refuses a duplicate or malformed key version",
                 "[storage][key_versions]") {
  SECTION("duplicate (device, version) is kAlreadyExists and changes nothing") {
    KeyVersionRow dup = MakeKeyVersion("dev-1", 2);
    dup.ciphertext = Bytes(40, 0x11);
    Status s = store->Write([&](WriteTxn& txn) { return txn.InsertKeyVersion(dup); });
    CHECK(s.code() == Code::kAlreadyExists);
    CHECK_THAT(s.message(), Catch::Contains("insert key version"));
    CHECK(Get("dev-1", 2).ciphertext == MakeKeyVersion("dev-1", 2).ciphertext);
  }
  SECTION("a version of an unknown device is kFailedPrecondition") {
    Status s = store->Write(
        [](WriteTxn& txn) { return txn.InsertKeyVersion(MakeKeyVersion("ghost", 1)); });
    CHECK(s.code() == Code::kFailedPrecondition);
  }
  SECTION("a wrong IV or tag length or an unknown state is kInvalidArgument") {
    KeyVersionRow bad_iv = MakeKeyVersion("dev-1", 3);
    bad_iv.iv = Bytes(16, 1);
    CHECK(store->Write([&](WriteTxn& txn) { return txn.InsertKeyVersion(bad_iv); }).code() ==
          Code::kInvalidArgument);
    KeyVersionRow bad_tag = MakeKeyVersion("dev-1", 3);
    bad_tag.tag.clear();
    CHECK(store->Write([&](WriteTxn& txn) { return txn.InsertKeyVersion(bad_tag); }).code() ==
          Code::kInvalidArgument);
    KeyVersionRow bad_state = MakeKeyVersion("dev-1", 3);
    bad_state.state = "lost";
    CHECK(store->Write([&](WriteTxn& txn) { return txn.InsertKeyVersion(bad_state); }).code() ==
          Code::kInvalidArgument);
    KeyVersionRow zero = MakeKeyVersion("dev-1", 0);
    CHECK(store->Write([&](WriteTxn& txn) { return txn.InsertKeyVersion(zero); }).code() ==
          Code::kInvalidArgument);
  }
  SECTION("the largest 32-bit version round-trips") {
    KeyVersionRow big = MakeKeyVersion("dev-1", 0xFFFFFFFFu, 0xFFFFFFFFu);
    MustWrite(*store, [&](WriteTxn& txn) { return txn.InsertKeyVersion(big); });
    CHECK(Get("dev-1", 0xFFFFFFFFu).master_key_version == 0xFFFFFFFFu);
  }
}

TEST_CASE_METHOD(KeyVersionFixture, "Store updates state and burned flag",
                 "[storage][key_versions]") {
  MustWrite(*store, [](WriteTxn& txn) {
    ESCROW_RETURN_IF_ERROR(txn.SetKeyVersionState("dev-1", 1, "superseded"));
    return txn.SetBurned("dev-1", 2);
  });
  CHECK(Get("dev-1", 1).state == "superseded");
  CHECK_FALSE(Get("dev-1", 1).burned);
  CHECK(Get("dev-1", 2).burned);
  CHECK(Get("dev-1", 2).state == "active");

  CHECK(store->Write([](WriteTxn& txn) { return txn.SetKeyVersionState("dev-1", 1, "bogus"); })
            .code() == Code::kInvalidArgument);
  CHECK(store->Write([](WriteTxn& txn) { return txn.SetKeyVersionState("dev-1", 7, "active"); })
            .code() == Code::kNotFound);
  CHECK(store->Write([](WriteTxn& txn) { return txn.SetBurned("dev-9", 1); }).code() ==
        Code::kNotFound);
}

TEST_CASE_METHOD(KeyVersionFixture, "ReplaceSealed re-seals only under the expected master key",
                 "[storage][key_versions]") {
  const Bytes iv(12, 0xA1);
  const Bytes ct(48, 0xB2);
  const Bytes tag(16, 0xC3);

  SECTION("a wrong expected master version is kNotFound and changes nothing") {
    Status s = store->Write(
        [&](WriteTxn& txn) { return txn.ReplaceSealed("dev-1", 1, 7, 8, iv, ct, tag); });
    CHECK(s.code() == Code::kNotFound);
    CHECK(Get("dev-1", 1).master_key_version == 1);
    CHECK(Get("dev-1", 1).iv == MakeKeyVersion("dev-1", 1).iv);
  }
  SECTION("an absent version is kNotFound") {
    CHECK(
        store
            ->Write([&](WriteTxn& txn) { return txn.ReplaceSealed("dev-1", 5, 1, 2, iv, ct, tag); })
            .code() == Code::kNotFound);
  }
  SECTION("the right one replaces IV, ciphertext, tag and version; counts follow") {
    auto before = store->CountByMasterKey();
    REQUIRE(before.ok());
    CHECK(*before == Counts{{1, 2}, {2, 1}});

    MustWrite(*store,
              [&](WriteTxn& txn) { return txn.ReplaceSealed("dev-1", 1, 1, 2, iv, ct, tag); });
    const KeyVersionRow got = Get("dev-1", 1);
    CHECK(got.master_key_version == 2);
    CHECK(got.iv == iv);
    CHECK(got.ciphertext == ct);
    CHECK(got.tag == tag);
    CHECK(got.owner == "alice");

    auto after = store->CountByMasterKey();
    REQUIRE(after.ok());
    CHECK(*after == Counts{{1, 1}, {2, 2}});

    auto under1 = store->ListSealedUnder(1, 10, std::nullopt);
    REQUIRE(under1.ok());
    REQUIRE(under1->size() == 1);
    CHECK((*under1)[0].device_id == "dev-1");
    CHECK((*under1)[0].version == 2);
  }
}

TEST_CASE_METHOD(KeyVersionFixture, "ListSealedUnder pages in (device, version) order",
                 "[storage][key_versions]") {
  MustWrite(*store, [](WriteTxn& txn) {
    ESCROW_RETURN_IF_ERROR(txn.UpsertDevice(MakeDevice("dev-0")));
    return txn.InsertKeyVersion(MakeKeyVersion("dev-0", 4));
  });
  auto page = store->ListSealedUnder(1, 2, std::nullopt);
  REQUIRE(page.ok());
  REQUIRE(page->size() == 2);
  CHECK((*page)[0].device_id == "dev-0");
  CHECK((*page)[1].device_id == "dev-1");
  CHECK((*page)[1].version == 1);
  // The next page starts after the last row of this one, within a device and across devices.
  auto next = store->ListSealedUnder(1, 10, KeyVersionKey{"dev-1", 1});
  REQUIRE(next.ok());
  REQUIRE(next->size() == 1);
  CHECK((*next)[0].device_id == "dev-1");
  CHECK((*next)[0].version == 2);
  auto from_first = store->ListSealedUnder(1, 10, KeyVersionKey{"dev-0", 4});
  REQUIRE(from_first.ok());
  CHECK(from_first->size() == 2);
  auto past_end = store->ListSealedUnder(1, 10, KeyVersionKey{"dev-1", 2});
  REQUIRE(past_end.ok());
  CHECK(past_end->empty());
  auto none = store->ListSealedUnder(9, 10, std::nullopt);
  REQUIRE(none.ok());
  CHECK(none->empty());
}

}  // namespace
}  // namespace escrow::storage
