#include <catch2/catch.hpp>

#include "tests/storage/conformance/backends.h"

namespace escrow::storage {
namespace {

using testing::Backends;
using testing::GetDevice;
using testing::ListAllDevices;
using testing::ListDevicesByOwner;
using testing::ListDevicesBySerial;
using testing::MakeDevice;
using testing::MustWrite;

std::vector<std::string> Ids(const std::vector<DeviceRow>& rows) {
  std::vector<std::string> ids;
  for (const DeviceRow& row : rows) ids.push_back(row.id);
  return ids;
}

TEMPLATE_LIST_TEST_CASE("Store upserts and reads devices", "[storage][conformance][devices]",
                        Backends) {
  TestType backend;
  auto store = backend.Open();
  DeviceRow row = MakeDevice("dev-1");
  row.last_checkin_ms.reset();
  MustWrite(*store, [&](WriteTxn& txn) { return txn.devices().Upsert(row); });

  auto got = GetDevice(*store, "dev-1");
  REQUIRE(got.ok());
  REQUIRE(got->has_value());
  const DeviceRow& d = **got;
  CHECK(d.id == "dev-1");
  CHECK(d.serial == row.serial);
  CHECK(d.name == row.name);
  CHECK(d.platform == Platform::kMacos);
  CHECK(d.ownership == Ownership::kCorporate);
  CHECK(d.owner == "alice");
  CHECK(d.encryption_enabled);
  CHECK_FALSE(d.rotation_pending);
  CHECK_FALSE(d.last_checkin_ms.has_value());
  CHECK(d.created_ms == row.created_ms);

  SECTION("an unknown id is absent, not an error") {
    auto missing = GetDevice(*store, "nope");
    REQUIRE(missing.ok());
    CHECK_FALSE(missing->has_value());
  }
  SECTION("replacing keeps created_ms and changes the rest") {
    DeviceRow changed = row;
    changed.owner = "bob";
    changed.ownership = Ownership::kPersonal;
    changed.created_ms = 42;
    changed.updated_ms = row.updated_ms + 1000;
    changed.last_checkin_ms = 123;
    MustWrite(*store, [&](WriteTxn& txn) { return txn.devices().Upsert(changed); });
    auto again = GetDevice(*store, "dev-1");
    REQUIRE(again.ok());
    REQUIRE(again->has_value());
    CHECK((*again)->owner == "bob");
    CHECK((*again)->ownership == Ownership::kPersonal);
    CHECK((*again)->created_ms == row.created_ms);
    CHECK((*again)->updated_ms == changed.updated_ms);
    CHECK((*again)->last_checkin_ms == std::optional<std::int64_t>(123));
  }
  SECTION("rotation pending and check-in update one device") {
    MustWrite(*store, [](WriteTxn& txn) {
      ESCROW_RETURN_IF_ERROR(txn.devices().SetRotationPending("dev-1", true, 5));
      return txn.devices().SetCheckin("dev-1", 1'800'000'000'000);
    });
    auto again = GetDevice(*store, "dev-1");
    REQUIRE(again.ok());
    CHECK((*again)->rotation_pending);
    CHECK((*again)->last_checkin_ms == std::optional<std::int64_t>(1'800'000'000'000));
  }
  SECTION("updates of an unknown device are kNotFound") {
    CHECK(store->Write([](WriteTxn& txn) { return txn.devices().SetRotationPending("nope", true, 5); })
              .code() == Code::kNotFound);
    CHECK(store->Write([](WriteTxn& txn) { return txn.devices().SetCheckin("nope", 1); }).code() ==
          Code::kNotFound);
  }
  SECTION("an ownership outside corporate|personal is refused") {
    DeviceRow bad = MakeDevice("dev-2");
    bad.ownership = static_cast<Ownership>(3);  // a value no text maps to
    Status s = store->Write([&](WriteTxn& txn) { return txn.devices().Upsert(bad); });
    CHECK(s.code() == Code::kInvalidArgument);
    CHECK_THAT(s.message(), Catch::Contains("upsert device") && !Catch::Contains("shared"));
  }
  SECTION("so is a platform that is not one of ours") {
    DeviceRow bad = MakeDevice("dev-2");
    bad.platform = static_cast<Platform>(0);
    Status s = store->Write([&](WriteTxn& txn) { return txn.devices().Upsert(bad); });
    CHECK(s.code() == Code::kInvalidArgument);
    CHECK_THAT(s.message(), Catch::Contains("upsert device"));
    CHECK_FALSE(GetDevice(*store, "dev-2")->has_value());
  }
}

TEMPLATE_LIST_TEST_CASE("Store lists devices by owner, by serial and all",
                        "[storage][conformance][devices]", Backends) {
  TestType backend;
  auto store = backend.Open();
  MustWrite(*store, [](WriteTxn& txn) {
    ESCROW_RETURN_IF_ERROR(txn.devices().Upsert(MakeDevice("dev-c", "alice", "S1")));
    ESCROW_RETURN_IF_ERROR(txn.devices().Upsert(MakeDevice("dev-a", "alice", "S2")));
    ESCROW_RETURN_IF_ERROR(txn.devices().Upsert(MakeDevice("dev-b", "bob", "S1")));
    return txn.devices().Upsert(MakeDevice("dev-d", "carol", "S3"));
  });

  auto alice = ListDevicesByOwner(*store, "alice");
  REQUIRE(alice.ok());
  CHECK(Ids(*alice) == std::vector<std::string>{"dev-a", "dev-c"});
  auto s1 = ListDevicesBySerial(*store, "S1");
  REQUIRE(s1.ok());
  CHECK(Ids(*s1) == std::vector<std::string>{"dev-b", "dev-c"});
  auto nobody = ListDevicesByOwner(*store, "mallory");
  REQUIRE(nobody.ok());
  CHECK(nobody->empty());
  auto all = ListAllDevices(*store, 3);
  REQUIRE(all.ok());
  CHECK(Ids(*all) == std::vector<std::string>{"dev-a", "dev-b", "dev-c"});
  auto none = ListAllDevices(*store, 0);
  REQUIRE(none.ok());
  CHECK(none->empty());
  auto unlimited = ListAllDevices(*store, std::numeric_limits<std::size_t>::max());
  REQUIRE(unlimited.ok());
  CHECK(unlimited->size() == 4);
}

TEMPLATE_LIST_TEST_CASE("Store pages devices by owner and by serial in id order",
                        "[storage][conformance][devices]", Backends) {
  TestType backend;
  auto store = backend.Open();
  // Inserted out of order, with others' devices between alice's ids.
  MustWrite(*store, [](WriteTxn& txn) {
    for (const char* id : {"dev-e", "dev-b", "dev-a", "dev-d", "dev-c"}) {
      ESCROW_RETURN_IF_ERROR(txn.devices().Upsert(MakeDevice(id, "alice", "S1")));
    }
    ESCROW_RETURN_IF_ERROR(txn.devices().Upsert(MakeDevice("dev-bb", "bob", "S1")));
    return txn.devices().Upsert(MakeDevice("dev-cc", "bob", "S2"));
  });
  using IdList = std::vector<std::string>;
  auto owner_page = [&](std::optional<std::string_view> after, std::size_t limit) {
    auto rows = ListDevicesByOwner(*store, "alice", after, limit);
    INFO(rows.status().ToString());
    REQUIRE(rows.ok());
    return Ids(*rows);
  };
  auto serial_page = [&](std::optional<std::string_view> after, std::size_t limit) {
    auto rows = ListDevicesBySerial(*store, "S1", after, limit);
    INFO(rows.status().ToString());
    REQUIRE(rows.ok());
    return Ids(*rows);
  };

  SECTION("pages meet at their boundaries, each starting after the last id of the one before") {
    CHECK(owner_page(std::nullopt, 2) == IdList{"dev-a", "dev-b"});
    CHECK(owner_page("dev-b", 2) == IdList{"dev-c", "dev-d"});
    CHECK(owner_page("dev-d", 2) == IdList{"dev-e"});
    CHECK(owner_page(std::nullopt, 5) == IdList{"dev-a", "dev-b", "dev-c", "dev-d", "dev-e"});
    CHECK(serial_page(std::nullopt, 3) == IdList{"dev-a", "dev-b", "dev-bb"});
    CHECK(serial_page("dev-bb", 3) == IdList{"dev-c", "dev-d", "dev-e"});
    CHECK(serial_page("dev-e", 3).empty());
  }
  SECTION("limit 1 walks one device at a time") {
    IdList walked;
    std::optional<std::string> after;
    for (int i = 0; i < 10; ++i) {
      IdList page = owner_page(after, 1);
      REQUIRE(page.size() <= 1);
      if (page.empty()) break;
      walked.push_back(page.front());
      after = page.front();
    }
    CHECK(walked == IdList{"dev-a", "dev-b", "dev-c", "dev-d", "dev-e"});
  }
  SECTION("after need not be a device, nor one of the owner's") {
    CHECK(owner_page("dev-bb", 10) == IdList{"dev-c", "dev-d", "dev-e"});
    CHECK(owner_page("dev-0", 10) == IdList{"dev-a", "dev-b", "dev-c", "dev-d", "dev-e"});
    CHECK(serial_page("dev-b", 10) == IdList{"dev-bb", "dev-c", "dev-d", "dev-e"});
  }
  SECTION("after past the end gives an empty page") {
    CHECK(owner_page("dev-e", 10).empty());
    CHECK(owner_page("zzz", 10).empty());
    CHECK(serial_page("zzz", 10).empty());
    auto nobody = ListDevicesByOwner(*store, "mallory", std::nullopt, 10);
    REQUIRE(nobody.ok());
    CHECK(nobody->empty());
  }
  SECTION("limit 0 gives an empty page") {
    CHECK(owner_page(std::nullopt, 0).empty());
    CHECK(serial_page("dev-a", 0).empty());
  }
}

TEMPLATE_LIST_TEST_CASE("Store keeps text with quotes and non-ASCII intact",
                        "[storage][conformance][devices]", Backends) {
  TestType backend;
  auto store = backend.Open();
  DeviceRow row = MakeDevice("dev-'; DROP TABLE devices; --", "zoë@example.org");
  row.name = "Zoë's \"Mac\"";
  MustWrite(*store, [&](WriteTxn& txn) { return txn.devices().Upsert(row); });
  auto got = GetDevice(*store, row.id);
  REQUIRE(got.ok());
  REQUIRE(got->has_value());
  CHECK((*got)->name == row.name);
  CHECK((*got)->owner == row.owner);
}

}  // namespace
}  // namespace escrow::storage
