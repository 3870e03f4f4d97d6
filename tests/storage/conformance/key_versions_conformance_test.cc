#include <catch2/catch.hpp>

#include "tests/storage/conformance/backends.h"

namespace escrow::storage {
namespace {

using testing::Backends;
using testing::BackendStore;
using testing::CountByMasterKey;
using testing::CurrentKeyVersion;
using testing::GetDevice;
using testing::GetKeyVersion;
using testing::LatestKeyVersionNumber;
using testing::ListBurnedKeyVersions;
using testing::ListKeyVersions;
using testing::ListSealedUnder;
using testing::MakeDevice;
using testing::MakeKeyVersion;
using testing::MustWrite;

using Counts = std::vector<std::pair<std::uint32_t, std::int64_t>>;

template <class Backend>
struct KeyVersionFixture : BackendStore<Backend> {
  KeyVersionFixture() {
    MustWrite(*this->owned_store, [](WriteTxn& txn) {
      ESCROW_RETURN_IF_ERROR(txn.devices().Upsert(MakeDevice("dev-1")));
      ESCROW_RETURN_IF_ERROR(txn.devices().Upsert(MakeDevice("dev-2")));
      ESCROW_RETURN_IF_ERROR(txn.versions().Insert(MakeKeyVersion("dev-1", 1)));
      ESCROW_RETURN_IF_ERROR(txn.versions().Insert(MakeKeyVersion("dev-1", 2)));
      return txn.versions().Insert(MakeKeyVersion("dev-2", 1, /*master_key_version=*/2));
    });
  }
  KeyVersionRow Get(std::string_view device, std::uint32_t version) {
    auto row = GetKeyVersion(*this->owned_store, device, version);
    INFO(row.status().ToString());
    REQUIRE(row.ok());
    REQUIRE(row->has_value());
    return **row;
  }
};

TEMPLATE_LIST_TEST_CASE_METHOD(KeyVersionFixture, "Store inserts and reads key versions",
                               "[storage][conformance][key_versions]", Backends) {
  Store* store = this->owned_store.get();
  const KeyVersionRow expected = MakeKeyVersion("dev-1", 2);
  const KeyVersionRow got = this->Get("dev-1", 2);
  CHECK(got.device_id == "dev-1");
  CHECK(got.version == 2);
  CHECK(got.kind == expected.kind);
  CHECK(got.owner == expected.owner);
  CHECK(got.ownership == expected.ownership);
  CHECK(got.master_key_version == 1);
  CHECK(got.iv == expected.iv);
  CHECK(got.ciphertext == expected.ciphertext);
  CHECK(got.tag == expected.tag);
  CHECK(got.state == VersionState::kActive);
  CHECK(got.stored_ms == expected.stored_ms);
  CHECK(got.stored_by == "mdm");
  CHECK_FALSE(got.stored_by_kind.has_value());  // the fixture's rows name no kind: NULL
  CHECK_FALSE(got.burned);

  auto missing = GetKeyVersion(*store, "dev-1", 9);
  REQUIRE(missing.ok());
  CHECK_FALSE(missing->has_value());

  auto versions = ListKeyVersions(*store, "dev-1");
  REQUIRE(versions.ok());
  REQUIRE(versions->size() == 2);
  CHECK((*versions)[0].version == 1);
  CHECK((*versions)[1].version == 2);
}

TEMPLATE_LIST_TEST_CASE_METHOD(
    KeyVersionFixture,
    "The current version is the newest active one of the present owner and platform",
    "[storage][conformance][key_versions]", Backends) {
  Store* store = this->owned_store.get();
  auto device = GetDevice(*store, "dev-1");
  REQUIRE(device.ok());
  REQUIRE(device->has_value());
  const DeviceRow dev = **device;
  auto current = [&](const DeviceRow& d) -> std::optional<std::uint32_t> {
    auto row = CurrentKeyVersion(*store, d);
    INFO(row.status().ToString());
    REQUIRE(row.ok());
    if (!row->has_value()) return std::nullopt;
    return (*row)->version;
  };
  CHECK(current(dev) == 2u);  // both are active (the fixture does not supersede): the newest
  auto latest = LatestKeyVersionNumber(*store, "dev-1");
  REQUIRE(latest.ok());
  CHECK(*latest == 2u);
  auto none = LatestKeyVersionNumber(*store, "dev-9");
  REQUIRE(none.ok());
  CHECK(*none == 0u);

  SECTION("superseding leaves no current version, and burns nothing") {
    MustWrite(*store, [](WriteTxn& txn) { return txn.versions().SupersedeActive("dev-1"); });
    CHECK_FALSE(current(dev).has_value());
    CHECK(this->Get("dev-1", 1).state == VersionState::kSuperseded);
    CHECK(this->Get("dev-1", 2).state == VersionState::kSuperseded);
    CHECK(this->Get("dev-2", 1).state == VersionState::kActive);  // another device is untouched
    CHECK_FALSE(this->Get("dev-1", 2).burned);
    // Superseding nothing is not an error.
    MustWrite(*store, [](WriteTxn& txn) { return txn.versions().SupersedeActive("dev-1"); });
    auto latest_after = LatestKeyVersionNumber(*store, "dev-1");
    REQUIRE(latest_after.ok());
    CHECK(*latest_after == 2u);  // numbers are never reused
  }
  SECTION("a version of another owner or platform is not current") {
    DeviceRow other_owner = dev;
    other_owner.owner = "someone-else";
    CHECK_FALSE(current(other_owner).has_value());
    DeviceRow other_platform = dev;
    other_platform.platform =
        dev.platform == Platform::kMacos ? Platform::kWindows : Platform::kMacos;
    CHECK_FALSE(current(other_platform).has_value());
  }
  SECTION("the owner's version stays current when the device's ownership flips (L2)") {
    DeviceRow flipped = dev;
    flipped.ownership =
        dev.ownership == Ownership::kCorporate ? Ownership::kPersonal : Ownership::kCorporate;
    CHECK(current(flipped) == 2u);
    // A version stored under the other ownership is newer: it is the current one for both.
    KeyVersionRow v3 = MakeKeyVersion("dev-1", 3);
    v3.ownership = flipped.ownership;
    MustWrite(*store, [&](WriteTxn& txn) { return txn.versions().Insert(v3); });
    CHECK(current(flipped) == 3u);
    CHECK(current(dev) == 3u);
  }
  SECTION("only the newest active one counts when an older one is superseded") {
    MustWrite(*store, [](WriteTxn& txn) {
      return txn.versions().SetState("dev-1", 2, VersionState::kSuperseded);
    });
    CHECK(current(dev) == 1u);
  }
  SECTION("burning marks the active versions only, and lists them") {
    MustWrite(*store, [](WriteTxn& txn) {
      return txn.versions().SetState("dev-1", 1, VersionState::kSuperseded);
    });
    MustWrite(*store, [](WriteTxn& txn) { return txn.versions().BurnActive("dev-1"); });
    CHECK_FALSE(this->Get("dev-1", 1).burned);
    CHECK(this->Get("dev-1", 2).burned);
    CHECK_FALSE(this->Get("dev-2", 1).burned);
    auto burned = ListBurnedKeyVersions(*store, "dev-1");
    REQUIRE(burned.ok());
    REQUIRE(burned->size() == 1);
    CHECK((*burned)[0].version == 2u);
    MustWrite(*store, [](WriteTxn& txn) {
      return txn.versions().SetState("dev-1", 2, VersionState::kDestroyed);
    });
    auto after_destroy = ListBurnedKeyVersions(*store, "dev-1");
    REQUIRE(after_destroy.ok());
    CHECK(after_destroy->empty());  // a destroyed version has nothing left to compare
  }
}

TEMPLATE_LIST_TEST_CASE_METHOD(KeyVersionFixture,
                               "Store keeps the kind of principal that stored a version, or none",
                               "[storage][conformance][key_versions]", Backends) {
  Store* store = this->owned_store.get();
  KeyVersionRow by_user = MakeKeyVersion("dev-1", 3);
  by_user.stored_by_kind = PrincipalKind::kUser;
  KeyVersionRow by_client = MakeKeyVersion("dev-2", 2, /*master_key_version=*/2);
  by_client.stored_by_kind = PrincipalKind::kClient;
  MustWrite(*store, [&](WriteTxn& txn) {
    ESCROW_RETURN_IF_ERROR(txn.versions().Insert(by_user));
    return txn.versions().Insert(by_client);
  });
  CHECK(this->Get("dev-1", 3).stored_by_kind == PrincipalKind::kUser);
  CHECK(this->Get("dev-2", 2).stored_by_kind == PrincipalKind::kClient);
  CHECK_FALSE(this->Get("dev-1", 1).stored_by_kind.has_value());
  // Every reader gives it: listings, the current version, burned and sealed-under lists.
  auto versions = ListKeyVersions(*store, "dev-1");
  REQUIRE(versions.ok());
  REQUIRE(versions->size() == 3);
  CHECK_FALSE((*versions)[0].stored_by_kind.has_value());
  CHECK((*versions)[2].stored_by_kind == PrincipalKind::kUser);
  auto device = GetDevice(*store, "dev-1");
  REQUIRE(device.ok());
  REQUIRE(device->has_value());
  auto current = CurrentKeyVersion(*store, **device);
  REQUIRE(current.ok());
  REQUIRE(current->has_value());
  CHECK((*current)->stored_by_kind == PrincipalKind::kUser);
  MustWrite(*store, [](WriteTxn& txn) { return txn.versions().SetBurned("dev-1", 3); });
  auto burned = ListBurnedKeyVersions(*store, "dev-1");
  REQUIRE(burned.ok());
  REQUIRE(burned->size() == 1);
  CHECK((*burned)[0].stored_by_kind == PrincipalKind::kUser);
  auto sealed = ListSealedUnder(*store, 2, 10, std::nullopt);
  REQUIRE(sealed.ok());
  REQUIRE(sealed->size() == 2);
  CHECK((*sealed)[1].stored_by_kind == PrincipalKind::kClient);
  // A kind that is none of ours is refused before it reaches the table, and changes nothing.
  KeyVersionRow bad = MakeKeyVersion("dev-1", 4);
  bad.stored_by_kind = static_cast<PrincipalKind>(0);  // a value no text maps to
  CHECK(store->Write([&](WriteTxn& txn) { return txn.versions().Insert(bad); }).code() ==
        Code::kInvalidArgument);
  auto absent = GetKeyVersion(*store, "dev-1", 4);
  REQUIRE(absent.ok());
  CHECK_FALSE(absent->has_value());
}

TEMPLATE_LIST_TEST_CASE_METHOD(KeyVersionFixture,
                               "Store refuses a duplicate or malformed key version",
                               "[storage][conformance][key_versions]", Backends) {
  Store* store = this->owned_store.get();
  SECTION("duplicate (device, version) is kAlreadyExists and changes nothing") {
    KeyVersionRow dup = MakeKeyVersion("dev-1", 2);
    dup.ciphertext = Bytes(40, 0x11);
    Status s = store->Write([&](WriteTxn& txn) { return txn.versions().Insert(dup); });
    CHECK(s.code() == Code::kAlreadyExists);
    CHECK_THAT(s.message(), Catch::Contains("insert key version"));
    CHECK(this->Get("dev-1", 2).ciphertext == MakeKeyVersion("dev-1", 2).ciphertext);
  }
  SECTION("a version of an unknown device is kFailedPrecondition") {
    Status s = store->Write(
        [](WriteTxn& txn) { return txn.versions().Insert(MakeKeyVersion("ghost", 1)); });
    CHECK(s.code() == Code::kFailedPrecondition);
  }
  SECTION("a wrong IV or tag length or an unknown state is kInvalidArgument") {
    KeyVersionRow bad_iv = MakeKeyVersion("dev-1", 3);
    bad_iv.iv = Bytes(16, 1);
    CHECK(store->Write([&](WriteTxn& txn) { return txn.versions().Insert(bad_iv); }).code() ==
          Code::kInvalidArgument);
    KeyVersionRow bad_tag = MakeKeyVersion("dev-1", 3);
    bad_tag.tag.clear();
    CHECK(store->Write([&](WriteTxn& txn) { return txn.versions().Insert(bad_tag); }).code() ==
          Code::kInvalidArgument);
    KeyVersionRow bad_state = MakeKeyVersion("dev-1", 3);
    bad_state.state = static_cast<VersionState>(0);  // a value no text maps to
    CHECK(store->Write([&](WriteTxn& txn) { return txn.versions().Insert(bad_state); }).code() ==
          Code::kInvalidArgument);
    KeyVersionRow zero = MakeKeyVersion("dev-1", 0);
    CHECK(store->Write([&](WriteTxn& txn) { return txn.versions().Insert(zero); }).code() ==
          Code::kInvalidArgument);
  }
  SECTION("the largest 32-bit version round-trips") {
    KeyVersionRow big = MakeKeyVersion("dev-1", 0xFFFFFFFFu, 0xFFFFFFFFu);
    MustWrite(*store, [&](WriteTxn& txn) { return txn.versions().Insert(big); });
    CHECK(this->Get("dev-1", 0xFFFFFFFFu).master_key_version == 0xFFFFFFFFu);
  }
}

TEMPLATE_LIST_TEST_CASE_METHOD(KeyVersionFixture, "Store updates state and burned flag",
                               "[storage][conformance][key_versions]", Backends) {
  Store* store = this->owned_store.get();
  MustWrite(*store, [](WriteTxn& txn) {
    ESCROW_RETURN_IF_ERROR(txn.versions().SetState("dev-1", 1, VersionState::kSuperseded));
    return txn.versions().SetBurned("dev-1", 2);
  });
  CHECK(this->Get("dev-1", 1).state == VersionState::kSuperseded);
  CHECK_FALSE(this->Get("dev-1", 1).burned);
  CHECK(this->Get("dev-1", 2).burned);
  CHECK(this->Get("dev-1", 2).state == VersionState::kActive);

  CHECK(store
            ->Write([](WriteTxn& txn) {
              return txn.versions().SetState("dev-1", 1, static_cast<VersionState>(7));
            })
            .code() == Code::kInvalidArgument);
  CHECK(store
            ->Write([](WriteTxn& txn) {
              return txn.versions().SetState("dev-1", 7, VersionState::kActive);
            })
            .code() == Code::kNotFound);
  CHECK(store->Write([](WriteTxn& txn) { return txn.versions().SetBurned("dev-9", 1); }).code() ==
        Code::kNotFound);
}

TEMPLATE_LIST_TEST_CASE_METHOD(KeyVersionFixture,
                               "ReplaceSealed re-seals only under the expected master key",
                               "[storage][conformance][key_versions]", Backends) {
  Store* store = this->owned_store.get();
  const Bytes iv(12, 0xA1);
  const Bytes ct(48, 0xB2);
  const Bytes tag(16, 0xC3);

  SECTION("a wrong expected master version is kNotFound and changes nothing") {
    Status s = store->Write(
        [&](WriteTxn& txn) { return txn.versions().ReplaceSealed("dev-1", 1, 7, 8, iv, ct, tag); });
    CHECK(s.code() == Code::kNotFound);
    CHECK(this->Get("dev-1", 1).master_key_version == 1);
    CHECK(this->Get("dev-1", 1).iv == MakeKeyVersion("dev-1", 1).iv);
  }
  SECTION("an absent version is kNotFound") {
    CHECK(store
              ->Write([&](WriteTxn& txn) {
                return txn.versions().ReplaceSealed("dev-1", 5, 1, 2, iv, ct, tag);
              })
              .code() == Code::kNotFound);
  }
  SECTION("the right one replaces IV, ciphertext, tag and version; counts follow") {
    auto before = CountByMasterKey(*store);
    REQUIRE(before.ok());
    CHECK(*before == Counts{{1, 2}, {2, 1}});

    MustWrite(*store, [&](WriteTxn& txn) {
      return txn.versions().ReplaceSealed("dev-1", 1, 1, 2, iv, ct, tag);
    });
    const KeyVersionRow got = this->Get("dev-1", 1);
    CHECK(got.master_key_version == 2);
    CHECK(got.iv == iv);
    CHECK(got.ciphertext == ct);
    CHECK(got.tag == tag);
    CHECK(got.owner == "alice");

    auto after = CountByMasterKey(*store);
    REQUIRE(after.ok());
    CHECK(*after == Counts{{1, 1}, {2, 2}});

    auto under1 = ListSealedUnder(*store, 1, 10, std::nullopt);
    REQUIRE(under1.ok());
    REQUIRE(under1->size() == 1);
    CHECK((*under1)[0].device_id == "dev-1");
    CHECK((*under1)[0].version == 2);
  }
}

TEMPLATE_LIST_TEST_CASE_METHOD(KeyVersionFixture,
                               "ListSealedUnder pages in (device, version) order",
                               "[storage][conformance][key_versions]", Backends) {
  Store* store = this->owned_store.get();
  MustWrite(*store, [](WriteTxn& txn) {
    ESCROW_RETURN_IF_ERROR(txn.devices().Upsert(MakeDevice("dev-0")));
    return txn.versions().Insert(MakeKeyVersion("dev-0", 4));
  });
  auto page = ListSealedUnder(*store, 1, 2, std::nullopt);
  REQUIRE(page.ok());
  REQUIRE(page->size() == 2);
  CHECK((*page)[0].device_id == "dev-0");
  CHECK((*page)[1].device_id == "dev-1");
  CHECK((*page)[1].version == 1);
  // The next page starts after the last row of this one, within a device and across devices.
  auto next = ListSealedUnder(*store, 1, 10, KeyVersionKey{"dev-1", 1});
  REQUIRE(next.ok());
  REQUIRE(next->size() == 1);
  CHECK((*next)[0].device_id == "dev-1");
  CHECK((*next)[0].version == 2);
  auto from_first = ListSealedUnder(*store, 1, 10, KeyVersionKey{"dev-0", 4});
  REQUIRE(from_first.ok());
  CHECK(from_first->size() == 2);
  auto past_end = ListSealedUnder(*store, 1, 10, KeyVersionKey{"dev-1", 2});
  REQUIRE(past_end.ok());
  CHECK(past_end->empty());
  auto none = ListSealedUnder(*store, 9, 10, std::nullopt);
  REQUIRE(none.ok());
  CHECK(none->empty());
}

}  // namespace
}  // namespace escrow::storage
