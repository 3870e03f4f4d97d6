// Overdue rotations on the fakes (API.md, "Closing the loop after a key was seen"): when a
// pending rotation started, when it is overdue, and the sweep that notes each one once. The
// real vaultd's half is tests/e2e/rotation_overdue_e2e_test.cc.

#include <catch2/catch.hpp>

#include <string>

#include "tests/vault/fake_vault.h"

namespace escrow::vault {
namespace {

using escrow::testing::FakeVault;
using escrow::testing::HelpdeskCaller;
using escrow::testing::kFirstKey;
using escrow::testing::kSecondKey;

Caller Mdm() { return Caller::Mdm("mdm"); }
Caller Alice() { return Caller::User("alice", {}, "portal"); }

EscrowOptions WithDeadline() {
  EscrowOptions o;
  o.rotation_deadline = std::chrono::hours(1);
  return o;
}

Device Get(FakeVault& v) {
  Result<Device> d = v.service->GetDevice(Alice(), "mac-1");
  REQUIRE(d.ok());
  return *d;
}

// The overdue records of mac-1 in the audit trail.
int OverdueRecords(FakeVault& v) {
  int n = 0;
  REQUIRE(v.fake_store
              .Read([&](storage::ReadTxn& txn) -> Status {
                ESCROW_ASSIGN_OR_RETURN(std::vector<storage::AuditRow> rows,
                                        txn.audit().List(0, 1000, "mac-1"));
                for (const storage::AuditRow& r : rows) {
                  if (r.action == "rotation_overdue") {
                    ++n;
                    CHECK(r.actor == "vault");
                    CHECK(r.outcome == "ok");
                  }
                }
                return Status::Ok();
              })
              .ok());
  return n;
}

TEST_CASE("A pending rotation has the time it was requested and is overdue after the deadline",
          "[vault][overdue]") {
  FakeVault v(WithDeadline());
  CHECK_FALSE(Get(v).rotation_requested_at.has_value());
  const TimePoint asked = v.clock.Now();
  REQUIRE(v.service->Retrieve(Alice(), "mac-1", "", std::nullopt).ok());
  Device d = Get(v);
  CHECK(d.rotation_pending);
  CHECK(d.rotation_requested_at == std::optional<TimePoint>(asked));
  CHECK_FALSE(d.rotation_overdue);
  // A later request leaves the time as it was.
  v.clock.Advance(std::chrono::minutes(30));
  REQUIRE(v.service->RequestRotation(HelpdeskCaller(), "mac-1").ok());
  CHECK(Get(v).rotation_requested_at == std::optional<TimePoint>(asked));
  v.clock.Advance(std::chrono::minutes(30));
  CHECK(Get(v).rotation_overdue);  // exactly the deadline
  // Re-storing the seen key keeps it pending and overdue; a new key clears both.
  REQUIRE(v.service->StoreKey(Mdm(), "mac-1", SecretBytes::CopyOf(kFirstKey), nullptr).ok());
  CHECK(Get(v).rotation_overdue);
  REQUIRE(v.service->StoreKey(Mdm(), "mac-1", SecretBytes::CopyOf(kSecondKey), nullptr).ok());
  d = Get(v);
  CHECK_FALSE(d.rotation_pending);
  CHECK_FALSE(d.rotation_requested_at.has_value());
  CHECK_FALSE(d.rotation_overdue);
}

TEST_CASE("The sweep notes each overdue rotation once, and counts them", "[vault][overdue]") {
  FakeVault v(WithDeadline());
  CHECK_FALSE(v.service->OverdueRotations().has_value());
  REQUIRE(v.service->RequestRotation(Alice(), "mac-1").ok());
  Result<std::size_t> noted = v.service->SweepOverdueRotations();
  REQUIRE(noted.ok());
  CHECK(*noted == 0);
  CHECK(v.service->OverdueRotations() == std::optional<std::int64_t>(0));

  v.clock.Advance(std::chrono::hours(2));
  noted = v.service->SweepOverdueRotations();
  REQUIRE(noted.ok());
  CHECK(*noted == 1);
  CHECK(OverdueRecords(v) == 1);
  CHECK(v.service->OverdueRotations() == std::optional<std::int64_t>(1));
  // Once per pending rotation: later sweeps and requests add nothing.
  REQUIRE(v.service->RequestRotation(Alice(), "mac-1").ok());
  noted = v.service->SweepOverdueRotations();
  REQUIRE(noted.ok());
  CHECK(*noted == 0);
  CHECK(OverdueRecords(v) == 1);
  CHECK(v.service->OverdueRotations() == std::optional<std::int64_t>(1));

  // A new key clears it; the next pending rotation is noted again once overdue.
  REQUIRE(v.service->StoreKey(Mdm(), "mac-1", SecretBytes::CopyOf(kSecondKey), nullptr).ok());
  REQUIRE(v.service->SweepOverdueRotations().ok());
  CHECK(v.service->OverdueRotations() == std::optional<std::int64_t>(0));
  REQUIRE(v.service->RequestRotation(Alice(), "mac-1").ok());
  v.clock.Advance(std::chrono::hours(2));
  noted = v.service->SweepOverdueRotations();
  REQUIRE(noted.ok());
  CHECK(*noted == 1);
  CHECK(OverdueRecords(v) == 2);
}

TEST_CASE("Overdue rotations are listed to helpdesk, admin and auditor, paged by device id",
          "[vault][overdue]") {
  FakeVault v(WithDeadline());
  const Caller mdm = Mdm();
  for (const char* id : {"mac-2", "mac-3", "mac-4"}) {
    const DeviceSpec spec{"SN", "Laptop", Platform::kMacos, Ownership::kCorporate, "alice", true};
    REQUIRE(v.service->PutDevice(mdm, id, spec).ok());
    REQUIRE(v.service->RequestRotation(Alice(), id).ok());
  }
  v.clock.Advance(std::chrono::hours(2));
  REQUIRE(v.service->RequestRotation(Alice(), "mac-1").ok());  // pending, not overdue yet
  DevicePaging paging;
  paging.limit = 2;
  Result<DevicePage> first = v.service->ListOverdueRotations(HelpdeskCaller(), paging);
  REQUIRE(first.ok());
  REQUIRE(first->devices.size() == 2);
  CHECK(first->devices[0].id == "mac-2");
  CHECK(first->devices[1].id == "mac-3");
  CHECK(first->devices[0].rotation_overdue);
  CHECK(first->next_after == std::optional<std::string>("mac-3"));
  paging.after = "mac-3";
  Result<DevicePage> second = v.service->ListOverdueRotations(HelpdeskCaller(), paging);
  REQUIRE(second.ok());
  REQUIRE(second->devices.size() == 1);
  CHECK(second->devices[0].id == "mac-4");
  CHECK_FALSE(second->next_after.has_value());
  // An owner without a role may not list; the mdm neither.
  for (const Caller& c : {Alice(), mdm}) {
    Result<DevicePage> r = v.service->ListOverdueRotations(c);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().reason() == "forbidden");
  }
  paging.limit = 0;
  CHECK(v.service->ListOverdueRotations(HelpdeskCaller(), paging).status().reason() ==
        "invalid_request");
}

TEST_CASE("A sweep that can't write its audit record notes nothing, and the next one does",
          "[vault][overdue]") {
  FakeVault v(WithDeadline());
  REQUIRE(v.service->RequestRotation(Alice(), "mac-1").ok());
  v.clock.Advance(std::chrono::hours(2));
  v.store.FailOn(escrow::testing::StoreOp::kAuditAppend, Status::Unavailable("disk gone"));
  CHECK_FALSE(v.service->SweepOverdueRotations().ok());
  v.store.Heal(escrow::testing::StoreOp::kAuditAppend);
  CHECK(OverdueRecords(v) == 0);
  Result<std::size_t> noted = v.service->SweepOverdueRotations();
  REQUIRE(noted.ok());
  CHECK(*noted == 1);
  CHECK(OverdueRecords(v) == 1);
}

}  // namespace
}  // namespace escrow::vault
