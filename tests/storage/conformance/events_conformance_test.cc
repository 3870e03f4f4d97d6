// Events and notifier cursors on every backend: an event names an audit record, once; the
// listing pages by id; retention deletes the oldest in bounded batches; a cursor never goes
// back.
#include <catch2/catch.hpp>

#include "tests/storage/conformance/backends.h"

namespace escrow::storage {
namespace {

using testing::Backends;
using testing::BackendStore;
using testing::MakeAudit;
using testing::MustWrite;

EventRow MakeEvent(std::uint64_t id, std::int64_t at_ms) {
  EventRow row;
  row.id = id;
  row.type = "recovery_key.retrieved";
  row.at_ms = at_ms;
  row.device_id = "dev-1";
  row.device_name = "Alice's Mac";
  row.owner = "alice";
  row.actor = "user:hd";
  row.role = "helpdesk";
  row.reason = "ticket 1";
  row.by_owner = false;
  return row;
}

template <class Backend>
struct EventFixture : BackendStore<Backend> {
  EventFixture() {
    MustWrite(*this->owned_store, [](WriteTxn& txn) -> Status {
      for (std::uint64_t seq = 1; seq <= 5; ++seq) {
        ESCROW_RETURN_IF_ERROR(txn.audit().Append(MakeAudit(seq)));
      }
      return Status::Ok();
    });
  }
  Status Write(const std::function<Status(EventWriter&)>& fn) {
    return this->owned_store->Write([&](WriteTxn& txn) { return fn(txn.events()); });
  }
  std::vector<EventRow> List(std::uint64_t after, std::size_t limit) {
    Result<std::vector<EventRow>> rows = ReadValue(
        *this->owned_store, [&](ReadTxn& txn) { return txn.events().List(after, limit); });
    REQUIRE(rows.ok());
    return *rows;
  }
};

TEMPLATE_LIST_TEST_CASE_METHOD(EventFixture, "Events are inserted once, each naming an audit record",
                               "[storage][conformance][events]", Backends) {
  REQUIRE(this->Write([](EventWriter& e) { return e.Insert(MakeEvent(2, 100)); }).ok());
  CHECK(this->Write([](EventWriter& e) { return e.Insert(MakeEvent(2, 100)); }).code() ==
        Code::kAlreadyExists);
  CHECK(this->Write([](EventWriter& e) { return e.Insert(MakeEvent(9, 100)); }).code() ==
        Code::kFailedPrecondition);
  CHECK(this->Write([](EventWriter& e) { return e.Insert(MakeEvent(0, 100)); }).code() ==
        Code::kInvalidArgument);
  EventRow untyped = MakeEvent(3, 100);
  untyped.type.clear();
  CHECK(this->Write([&](EventWriter& e) { return e.Insert(untyped); }).code() ==
        Code::kInvalidArgument);
  EventRow bare = MakeEvent(4, 100);
  bare.reason.reset();
  bare.by_owner.reset();
  REQUIRE(this->Write([&](EventWriter& e) { return e.Insert(bare); }).ok());

  const std::vector<EventRow> rows = this->List(0, 10);
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].id == 2u);
  CHECK(rows[0].type == "recovery_key.retrieved");
  CHECK(rows[0].at_ms == 100);
  CHECK(rows[0].device_name == "Alice's Mac");
  CHECK(rows[0].owner == "alice");
  CHECK(rows[0].actor == "user:hd");
  CHECK(rows[0].role == "helpdesk");
  CHECK(rows[0].reason == std::optional<std::string>("ticket 1"));
  CHECK(rows[0].by_owner == std::optional<bool>(false));
  CHECK(rows[1].id == 4u);
  CHECK_FALSE(rows[1].reason.has_value());
  CHECK_FALSE(rows[1].by_owner.has_value());
}

TEMPLATE_LIST_TEST_CASE_METHOD(EventFixture, "Events page oldest first after an id",
                               "[storage][conformance][events]", Backends) {
  REQUIRE(this->Write([](EventWriter& e) -> Status {
                for (std::uint64_t id = 1; id <= 5; ++id) {
                  ESCROW_RETURN_IF_ERROR(e.Insert(MakeEvent(id, 100)));
                }
                return Status::Ok();
              }).ok());
  std::vector<EventRow> page = this->List(0, 2);
  REQUIRE(page.size() == 2);
  CHECK(page[0].id == 1u);
  CHECK(page[1].id == 2u);
  page = this->List(2, 2);
  REQUIRE(page.size() == 2);
  CHECK(page[0].id == 3u);
  page = this->List(4, 10);
  REQUIRE(page.size() == 1);
  CHECK(page[0].id == 5u);
  CHECK(this->List(5, 10).empty());
}

TEMPLATE_LIST_TEST_CASE_METHOD(EventFixture, "Old events are deleted oldest first in batches",
                               "[storage][conformance][events]", Backends) {
  REQUIRE(this->Write([](EventWriter& e) -> Status {
                for (std::uint64_t id = 1; id <= 5; ++id) {
                  ESCROW_RETURN_IF_ERROR(e.Insert(MakeEvent(id, static_cast<std::int64_t>(id) * 10)));
                }
                return Status::Ok();
              }).ok());
  std::size_t deleted = 0;
  REQUIRE(this->Write([&](EventWriter& e) -> Status {
                ESCROW_ASSIGN_OR_RETURN(deleted, e.DeleteBefore(45, 3));
                return Status::Ok();
              }).ok());
  CHECK(deleted == 3u);
  REQUIRE(this->Write([&](EventWriter& e) -> Status {
                ESCROW_ASSIGN_OR_RETURN(deleted, e.DeleteBefore(45, 3));
                return Status::Ok();
              }).ok());
  CHECK(deleted == 1u);  // id 4 (at 40); id 5 (at 50) is kept
  const std::vector<EventRow> left = this->List(0, 10);
  REQUIRE(left.size() == 1);
  CHECK(left[0].id == 5u);
}

TEMPLATE_LIST_TEST_CASE_METHOD(EventFixture, "A notifier cursor only moves forward",
                               "[storage][conformance][events]", Backends) {
  auto cursor = [&](std::string_view client) {
    Result<std::optional<std::uint64_t>> c = ReadValue(
        *this->owned_store, [&](ReadTxn& txn) { return txn.events().Cursor(client); });
    REQUIRE(c.ok());
    return *c;
  };
  auto oldest = [&] {
    Result<std::optional<std::uint64_t>> c = ReadValue(
        *this->owned_store, [&](ReadTxn& txn) { return txn.events().OldestCursor(); });
    REQUIRE(c.ok());
    return *c;
  };
  auto advance = [&](std::string_view client, std::uint64_t after) {
    bool changed = false;
    REQUIRE(this->Write([&](EventWriter& e) -> Status {
                  ESCROW_ASSIGN_OR_RETURN(changed, e.AdvanceCursor(client, after));
                  return Status::Ok();
                }).ok());
    return changed;
  };
  CHECK_FALSE(cursor("notifier").has_value());
  CHECK_FALSE(oldest().has_value());
  CHECK(advance("notifier", 0));
  CHECK(cursor("notifier") == std::optional<std::uint64_t>(0));
  CHECK(advance("notifier", 7));
  CHECK_FALSE(advance("notifier", 7));
  CHECK_FALSE(advance("notifier", 3));
  CHECK(cursor("notifier") == std::optional<std::uint64_t>(7));
  CHECK(advance("second", 4));
  CHECK(oldest() == std::optional<std::uint64_t>(4));
}

}  // namespace
}  // namespace escrow::storage
