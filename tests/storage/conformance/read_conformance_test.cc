#include <atomic>
#include <thread>

#include <catch2/catch.hpp>

#include "tests/storage/conformance/backends.h"

namespace escrow::storage {
namespace {

using testing::Backends;
using testing::GetDevice;
using testing::MakeDevice;
using testing::MakeKeyVersion;
using testing::MustWrite;

TEMPLATE_LIST_TEST_CASE("A read transaction sees one snapshot while writes commit",
                        "[storage][conformance][read]", Backends) {
  TestType backend;
  auto store = backend.Open();
  MustWrite(*store, [](WriteTxn& txn) {
    ESCROW_RETURN_IF_ERROR(txn.devices().Upsert(MakeDevice("dev-1", "alice")));
    ESCROW_RETURN_IF_ERROR(txn.versions().Insert(MakeKeyVersion("dev-1", 1)));
    return txn.meta().Set("active_master_key_version", "1");
  });

  Status read = store->Read([&](ReadTxn& txn) -> Status {
    ESCROW_ASSIGN_OR_RETURN(std::optional<DeviceRow> before, txn.devices().Get("dev-1"));
    REQUIRE(before.has_value());
    CHECK(before->owner == "alice");
    // Another thread commits a change of every kind while this transaction is open.
    std::thread writer([&] {
      MustWrite(*store, [](WriteTxn& w) {
        ESCROW_RETURN_IF_ERROR(w.devices().Upsert(MakeDevice("dev-1", "bob")));
        ESCROW_RETURN_IF_ERROR(w.versions().Insert(MakeKeyVersion("dev-1", 2)));
        return w.meta().Set("active_master_key_version", "2");
      });
    });
    writer.join();
    ESCROW_ASSIGN_OR_RETURN(std::optional<DeviceRow> after, txn.devices().Get("dev-1"));
    CHECK(after->owner == "alice");
    ESCROW_ASSIGN_OR_RETURN(std::uint32_t latest, txn.versions().LatestNumber("dev-1"));
    CHECK(latest == 1u);
    ESCROW_ASSIGN_OR_RETURN(std::optional<std::string> mkv,
                            txn.meta().Get("active_master_key_version"));
    CHECK(mkv == std::optional<std::string>("1"));
    return Status::Ok();
  });
  REQUIRE(read.ok());
  // The next read transaction sees the commit.
  CHECK((*GetDevice(*store, "dev-1"))->owner == "bob");
}

TEMPLATE_LIST_TEST_CASE("Read returns its callback's Status and ReadValue its value",
                        "[storage][conformance][read]", Backends) {
  TestType backend;
  auto store = backend.Open();
  Status refused =
      store->Read([](ReadTxn&) { return Status::NotFound("nothing here", "device_not_found"); });
  CHECK(refused.code() == Code::kNotFound);
  CHECK(refused.reason() == "device_not_found");
  Result<std::uint32_t> none =
      ReadValue(*store, [](ReadTxn& txn) { return txn.versions().LatestNumber("dev-9"); });
  REQUIRE(none.ok());
  CHECK(*none == 0u);
  Result<int> failed =
      ReadValue(*store, [](ReadTxn&) -> Result<int> { return Status::DataLoss("bad row"); });
  CHECK(failed.status().code() == Code::kDataLoss);
}

TEMPLATE_LIST_TEST_CASE("A write transaction reads its own writes - others see them at commit",
                        "[storage][conformance][read]", Backends) {
  TestType backend;
  auto store = backend.Open();
  MustWrite(*store, [&](WriteTxn& txn) -> Status {
    ESCROW_RETURN_IF_ERROR(txn.devices().Upsert(MakeDevice("dev-1")));
    ESCROW_ASSIGN_OR_RETURN(std::optional<DeviceRow> mine, txn.devices().Get("dev-1"));
    CHECK(mine.has_value());
    ESCROW_RETURN_IF_ERROR(txn.versions().Insert(MakeKeyVersion("dev-1", 1)));
    ESCROW_ASSIGN_OR_RETURN(std::optional<KeyVersionRow> current, txn.versions().Current(*mine));
    CHECK(current.has_value());
    // Not committed yet: a read transaction does not see it.
    CHECK_FALSE(GetDevice(*store, "dev-1")->has_value());
    return Status::Ok();
  });
  CHECK(GetDevice(*store, "dev-1")->has_value());
}

}  // namespace
}  // namespace escrow::storage
