#include <catch2/catch.hpp>

#include "tests/storage/store_fixture.h"

namespace escrow::storage {
namespace {

using testing::MakeDevice;
using testing::MustWrite;
using testing::StoreFixture;

std::vector<std::string> Ids(const std::vector<DeviceRow>& rows) {
  std::vector<std::string> ids;
  for (const DeviceRow& row : rows) ids.push_back(row.id);
  return ids;
}

TEST_CASE("Store upserts and reads devices", "[storage][devices]") {
  StoreFixture f;
  auto store = f.Open();
  DeviceRow row = MakeDevice("dev-1");
  row.last_checkin_ms.reset();
  MustWrite(*store, [&](WriteTxn& txn) { return txn.UpsertDevice(row); });

  auto got = store->GetDevice("dev-1");
  REQUIRE(got.ok());
  REQUIRE(got->has_value());
  const DeviceRow& d = **got;
  CHECK(d.id == "dev-1");
  CHECK(d.serial == row.serial);
  CHECK(d.name == row.name);
  CHECK(d.platform == "macos");
  CHECK(d.ownership == "corporate");
  CHECK(d.owner == "alice");
  CHECK(d.encryption_enabled);
  CHECK_FALSE(d.rotation_pending);
  CHECK_FALSE(d.last_checkin_ms.has_value());
  CHECK(d.created_ms == row.created_ms);

  SECTION("an unknown id is absent, not an error") {
    auto missing = store->GetDevice("nope");
    REQUIRE(missing.ok());
    CHECK_FALSE(missing->has_value());
  }
  SECTION("replacing keeps created_ms and changes the rest") {
    DeviceRow changed = row;
    changed.owner = "bob";
    changed.ownership = "personal";
    changed.created_ms = 42;
    changed.updated_ms = row.updated_ms + 1000;
    changed.last_checkin_ms = 123;
    MustWrite(*store, [&](WriteTxn& txn) { return txn.UpsertDevice(changed); });
    auto again = store->GetDevice("dev-1");
    REQUIRE(again.ok());
    REQUIRE(again->has_value());
    CHECK((*again)->owner == "bob");
    CHECK((*again)->ownership == "personal");
    CHECK((*again)->created_ms == row.created_ms);
    CHECK((*again)->updated_ms == changed.updated_ms);
    CHECK((*again)->last_checkin_ms == std::optional<std::int64_t>(123));
  }
  SECTION("rotation pending and check-in update one device") {
    MustWrite(*store, [](WriteTxn& txn) {
      ESCROW_RETURN_IF_ERROR(txn.SetRotationPending("dev-1", true));
      return txn.SetCheckin("dev-1", 1'800'000'000'000);
    });
    auto again = store->GetDevice("dev-1");
    REQUIRE(again.ok());
    CHECK((*again)->rotation_pending);
    CHECK((*again)->last_checkin_ms == std::optional<std::int64_t>(1'800'000'000'000));
  }
  SECTION("updates of an unknown device are kNotFound") {
    CHECK(store->Write([](WriteTxn& txn) { return txn.SetRotationPending("nope", true); }).code() ==
          Code::kNotFound);
    CHECK(store->Write([](WriteTxn& txn) { return txn.SetCheckin("nope", 1); }).code() ==
          Code::kNotFound);
  }
  SECTION("an ownership outside corporate|personal is refused") {
    DeviceRow bad = MakeDevice("dev-2");
    bad.ownership = "shared";
    Status s = store->Write([&](WriteTxn& txn) { return txn.UpsertDevice(bad); });
    CHECK(s.code() == Code::kInvalidArgument);
    CHECK_THAT(s.message(), Catch::Contains("upsert device") && !Catch::Contains("shared"));
  }
}

TEST_CASE("Store lists devices by owner, by serial and all", "[storage][devices]") {
  StoreFixture f;
  auto store = f.Open();
  MustWrite(*store, [](WriteTxn& txn) {
    ESCROW_RETURN_IF_ERROR(txn.UpsertDevice(MakeDevice("dev-c", "alice", "S1")));
    ESCROW_RETURN_IF_ERROR(txn.UpsertDevice(MakeDevice("dev-a", "alice", "S2")));
    ESCROW_RETURN_IF_ERROR(txn.UpsertDevice(MakeDevice("dev-b", "bob", "S1")));
    return txn.UpsertDevice(MakeDevice("dev-d", "carol", "S3"));
  });

  auto alice = store->ListDevicesByOwner("alice");
  REQUIRE(alice.ok());
  CHECK(Ids(*alice) == std::vector<std::string>{"dev-a", "dev-c"});
  auto s1 = store->ListDevicesBySerial("S1");
  REQUIRE(s1.ok());
  CHECK(Ids(*s1) == std::vector<std::string>{"dev-b", "dev-c"});
  auto nobody = store->ListDevicesByOwner("mallory");
  REQUIRE(nobody.ok());
  CHECK(nobody->empty());
  auto all = store->ListAllDevices(3);
  REQUIRE(all.ok());
  CHECK(Ids(*all) == std::vector<std::string>{"dev-a", "dev-b", "dev-c"});
  auto none = store->ListAllDevices(0);
  REQUIRE(none.ok());
  CHECK(none->empty());
  auto unlimited = store->ListAllDevices(std::numeric_limits<std::size_t>::max());
  REQUIRE(unlimited.ok());
  CHECK(unlimited->size() == 4);
}

TEST_CASE("Store keeps text with quotes and non-ASCII intact", "[storage][devices]") {
  StoreFixture f;
  auto store = f.Open();
  DeviceRow row = MakeDevice("dev-'; DROP TABLE devices; --", "zoë@example.org");
  row.name = "Zoë's \"Mac\"";
  MustWrite(*store, [&](WriteTxn& txn) { return txn.UpsertDevice(row); });
  auto got = store->GetDevice(row.id);
  REQUIRE(got.ok());
  REQUIRE(got->has_value());
  CHECK((*got)->name == row.name);
  CHECK((*got)->owner == row.owner);
}

}  // namespace
}  // namespace escrow::storage
