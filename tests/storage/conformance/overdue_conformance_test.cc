// Overdue rotations (migration 12) on every backend: when a pending rotation started, the
// listing, count and sweep reads of overdue rotations, and the sweep's once-only note.
#include <catch2/catch.hpp>

#include "tests/storage/conformance/backends.h"

namespace escrow::storage {
namespace {

using testing::Backends;
using testing::GetDevice;
using testing::MakeDevice;
using testing::MustWrite;

std::vector<std::string> Ids(const std::vector<DeviceRow>& rows) {
  std::vector<std::string> ids;
  for (const DeviceRow& row : rows) ids.push_back(row.id);
  return ids;
}

DeviceRow Read(Store& store, std::string_view id) {
  auto got = GetDevice(store, id);
  REQUIRE(got.ok());
  REQUIRE(got->has_value());
  return **got;
}

TEMPLATE_LIST_TEST_CASE("A pending rotation keeps the time it started until it is cleared",
                        "[storage][conformance][overdue]", Backends) {
  TestType backend;
  auto store = backend.Open();
  MustWrite(*store, [](WriteTxn& txn) { return txn.devices().Upsert(MakeDevice("dev-1")); });
  CHECK_FALSE(Read(*store, "dev-1").rotation_requested_ms.has_value());

  MustWrite(*store, [](WriteTxn& txn) { return txn.devices().SetRotationPending("dev-1", true, 100); });
  DeviceRow d = Read(*store, "dev-1");
  CHECK(d.rotation_pending);
  CHECK(d.rotation_requested_ms == std::optional<std::int64_t>(100));
  // Asked again while pending: the first time stays, and so does a note.
  MustWrite(*store, [](WriteTxn& txn) {
    ESCROW_RETURN_IF_ERROR(txn.devices().NoteRotationOverdue("dev-1", 100));
    return txn.devices().SetRotationPending("dev-1", true, 500);
  });
  d = Read(*store, "dev-1");
  CHECK(d.rotation_requested_ms == std::optional<std::int64_t>(100));
  CHECK(d.rotation_overdue_noted);
  // Cleared: both go; the next pending rotation starts anew, not noted.
  MustWrite(*store, [](WriteTxn& txn) { return txn.devices().SetRotationPending("dev-1", false, 600); });
  d = Read(*store, "dev-1");
  CHECK_FALSE(d.rotation_pending);
  CHECK_FALSE(d.rotation_requested_ms.has_value());
  CHECK_FALSE(d.rotation_overdue_noted);
  MustWrite(*store, [](WriteTxn& txn) { return txn.devices().SetRotationPending("dev-1", true, 700); });
  d = Read(*store, "dev-1");
  CHECK(d.rotation_requested_ms == std::optional<std::int64_t>(700));
  CHECK_FALSE(d.rotation_overdue_noted);
  // Upsert writes both as given.
  d.rotation_requested_ms = 650;
  d.rotation_overdue_noted = true;
  MustWrite(*store, [&](WriteTxn& txn) { return txn.devices().Upsert(d); });
  d = Read(*store, "dev-1");
  CHECK(d.rotation_requested_ms == std::optional<std::int64_t>(650));
  CHECK(d.rotation_overdue_noted);
  CHECK(store->Write([](WriteTxn& txn) {
                return txn.devices().SetRotationPending("ghost", true, 1);
              }).code() == Code::kNotFound);
}

TEMPLATE_LIST_TEST_CASE("Overdue rotations are listed by id, counted, and noted once, oldest first",
                        "[storage][conformance][overdue]", Backends) {
  TestType backend;
  auto store = backend.Open();
  // dev-a since 300, dev-b since 100, dev-c since 200, dev-d since 900 (not overdue at 500),
  // dev-e not pending.
  MustWrite(*store, [](WriteTxn& txn) {
    for (const char* id : {"dev-a", "dev-b", "dev-c", "dev-d", "dev-e"}) {
      ESCROW_RETURN_IF_ERROR(txn.devices().Upsert(MakeDevice(id)));
    }
    ESCROW_RETURN_IF_ERROR(txn.devices().SetRotationPending("dev-a", true, 300));
    ESCROW_RETURN_IF_ERROR(txn.devices().SetRotationPending("dev-b", true, 100));
    ESCROW_RETURN_IF_ERROR(txn.devices().SetRotationPending("dev-c", true, 200));
    return txn.devices().SetRotationPending("dev-d", true, 900);
  });
  std::vector<DeviceRow> page1, page2, unnoted;
  std::int64_t count = 0;
  REQUIRE(store
              ->Read([&](ReadTxn& txn) -> Status {
                ESCROW_ASSIGN_OR_RETURN(page1, txn.devices().ListRotationOverdue(500, {}, 2));
                ESCROW_ASSIGN_OR_RETURN(page2,
                                        txn.devices().ListRotationOverdue(500, "dev-b", 2));
                ESCROW_ASSIGN_OR_RETURN(count, txn.devices().CountRotationOverdue(500));
                ESCROW_ASSIGN_OR_RETURN(unnoted, txn.devices().ListOverdueUnnoted(500, 10));
                return Status::Ok();
              })
              .ok());
  CHECK(Ids(page1) == std::vector<std::string>{"dev-a", "dev-b"});
  CHECK(Ids(page2) == std::vector<std::string>{"dev-c"});
  CHECK(count == 3);
  CHECK(Ids(unnoted) == std::vector<std::string>{"dev-b", "dev-c", "dev-a"});

  // Noted once: a second note, or one for another pending rotation, changes nothing.
  MustWrite(*store, [](WriteTxn& txn) { return txn.devices().NoteRotationOverdue("dev-b", 100); });
  CHECK(store->Write([](WriteTxn& txn) {
                return txn.devices().NoteRotationOverdue("dev-b", 100);
              }).code() == Code::kFailedPrecondition);
  CHECK(store->Write([](WriteTxn& txn) {
                return txn.devices().NoteRotationOverdue("dev-c", 199);
              }).code() == Code::kFailedPrecondition);
  CHECK(store->Write([](WriteTxn& txn) {
                return txn.devices().NoteRotationOverdue("dev-e", 0);
              }).code() == Code::kFailedPrecondition);
  REQUIRE(store
              ->Read([&](ReadTxn& txn) -> Status {
                ESCROW_ASSIGN_OR_RETURN(unnoted, txn.devices().ListOverdueUnnoted(500, 1));
                ESCROW_ASSIGN_OR_RETURN(count, txn.devices().CountRotationOverdue(500));
                return Status::Ok();
              })
              .ok());
  CHECK(Ids(unnoted) == std::vector<std::string>{"dev-c"});
  CHECK(count == 3);  // noted or not, still overdue
}

}  // namespace
}  // namespace escrow::storage
