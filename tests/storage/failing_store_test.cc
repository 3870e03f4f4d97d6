#include "tests/fakes/failing_store.h"

#include <catch2/catch.hpp>

#include "tests/fakes/fake_store.h"
#include "tests/storage/store_test_rows.h"

namespace escrow::storage {
namespace {

using escrow::testing::FailingStore;
using escrow::testing::FakeStore;
using escrow::testing::StoreOp;
using testing::GetDevice;
using testing::LastAudit;
using testing::MakeAudit;
using testing::MakeDevice;
using testing::MustWrite;

TEST_CASE("FailingStore fails the chosen operation and rolls the write back", "[storage][fakes]") {
  FakeStore fake;
  FailingStore store(fake);
  store.FailOn(StoreOp::kAuditAppend, Status::Unavailable("disk gone"));
  Status s = store.Write([](WriteTxn& txn) {
    ESCROW_RETURN_IF_ERROR(txn.devices().Upsert(MakeDevice("dev-1")));
    return txn.audit().Append(MakeAudit(1));
  });
  CHECK(s.code() == Code::kUnavailable);
  CHECK(store.calls(StoreOp::kAuditAppend) == 1);
  CHECK_FALSE(GetDevice(fake, "dev-1")->has_value());
  CHECK_FALSE(LastAudit(fake)->has_value());

  SECTION("a fatal failure poisons the transaction, even if the callback ignores it") {
    Status ignored = store.Write([](WriteTxn& txn) {
      (void)txn.audit().Append(MakeAudit(1));  // ignored on purpose
      CHECK(txn.devices().Upsert(MakeDevice("dev-2")).code() == Code::kUnavailable);
      return Status::Ok();
    });
    CHECK(ignored.code() == Code::kUnavailable);
    CHECK_FALSE(GetDevice(fake, "dev-2")->has_value());
  }
  SECTION("a row-level failure leaves the transaction usable") {
    store.FailOn(StoreOp::kAuditAppend, Status::AlreadyExists("audit record 1 exists"));
    MustWrite(store, [](WriteTxn& txn) {
      CHECK(txn.audit().Append(MakeAudit(1)).code() == Code::kAlreadyExists);
      return txn.devices().Upsert(MakeDevice("dev-3"));
    });
    CHECK(GetDevice(fake, "dev-3")->has_value());
  }
  SECTION("inside Isolated too, and healed it reaches the store again") {
    Status outer = store.Write([](WriteTxn& txn) {
      Status inner = txn.Isolated([](WriteTxn& t) { return t.audit().Append(MakeAudit(1)); });
      CHECK(inner.code() == Code::kUnavailable);
      return Status::Ok();
    });
    CHECK(outer.code() == Code::kUnavailable);
    store.Heal(StoreOp::kAuditAppend);
    MustWrite(store, [](WriteTxn& txn) { return txn.audit().Append(MakeAudit(1)); });
    CHECK((*LastAudit(fake))->seq == 1);
  }
}

TEST_CASE("FailingStore fails reads and transactions as asked", "[storage][fakes]") {
  FakeStore fake;
  FailingStore store(fake);
  MustWrite(store, [](WriteTxn& txn) { return txn.devices().Upsert(MakeDevice("dev-1")); });
  store.FailOn(StoreOp::kDeviceGet, Status::DataLoss("corrupt"));
  CHECK(GetDevice(store, "dev-1").status().code() == Code::kDataLoss);
  CHECK(GetDevice(fake, "dev-1")->has_value());
  store.Heal(StoreOp::kDeviceGet);
  store.FailOn(StoreOp::kRead, Status::Unavailable("no connection"));
  CHECK(GetDevice(store, "dev-1").status().code() == Code::kUnavailable);
  store.FailOn(StoreOp::kWrite, Status::Unavailable("busy"));
  CHECK(store.Write([](WriteTxn&) { return Status::Ok(); }).code() == Code::kUnavailable);
  CHECK(store.calls(StoreOp::kWrite) == 2);
}

}  // namespace
}  // namespace escrow::storage
