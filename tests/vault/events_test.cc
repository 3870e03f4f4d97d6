// Events on the fakes (API.md "Events for owners and security teams"): each successful
// operation of a listed kind writes one event with its audit record's seq as id, in the same
// commit; refusals write none; the listing's policy, paging and audit; each notifier's
// cursor; retention and the lag alert of the sweep. The real vaultd's half is
// tests/e2e/events_e2e_test.cc.

#include <catch2/catch.hpp>

#include "tests/vault/fake_vault.h"
#include "vault/events.h"

namespace escrow::vault {
namespace {

using escrow::testing::FakeVault;
using escrow::testing::HelpdeskCaller;
using escrow::testing::kFirstKey;
using escrow::testing::kSecondKey;
using escrow::testing::StoreOp;

using escrow::testing::Admin;
using escrow::testing::Alice;
using escrow::testing::Approver;
using escrow::testing::WithRoles;

Caller Auditor() { return WithRoles("au", {Role::kAuditor}); }
Caller Notifier() { return Caller::Notifier("notifier"); }

struct EventVault : FakeVault {
  explicit EventVault(EscrowOptions o = {}) : FakeVault(std::move(o)) {}

  std::vector<storage::EventRow> Events() {
    Result<std::vector<storage::EventRow>> rows = storage::ReadValue(
        fake_store, [](storage::ReadTxn& txn) { return txn.events().List(0, 10000); });
    REQUIRE(rows.ok());
    return *rows;
  }
  std::vector<storage::AuditRow> Audit() {
    Result<std::vector<storage::AuditRow>> rows = storage::ReadValue(
        fake_store,
        [](storage::ReadTxn& txn) { return txn.audit().List(0, 10000, std::nullopt); });
    REQUIRE(rows.ok());
    return *rows;
  }
  // The newest audit record; REQUIRES there is one.
  storage::AuditRow LastAudit() {
    std::vector<storage::AuditRow> rows = Audit();
    REQUIRE_FALSE(rows.empty());
    return rows.back();
  }
  // The newest event, checked against its audit record: same seq, time, device, actor, role.
  storage::EventRow LastEvent() {
    std::vector<storage::EventRow> events = Events();
    REQUIRE_FALSE(events.empty());
    const storage::EventRow& e = events.back();
    for (const storage::AuditRow& a : Audit()) {
      if (a.seq != e.id) continue;
      CHECK(a.outcome == "ok");
      CHECK(a.time_ms == e.at_ms);
      CHECK(a.device_id == e.device_id);
      CHECK(a.actor == e.actor);
      CHECK(a.role == e.role);
      return e;
    }
    FAIL("no audit record with the event's id");
    return e;
  }
};

TEST_CASE("A stored key, a retrieval and a requested rotation each write one event under their "
          "audit record's seq",
          "[vault][events]") {
  EventVault v;
  // The fixture's store by the mdm.
  storage::EventRow stored = v.LastEvent();
  CHECK(stored.type == "recovery_key.stored");
  CHECK(stored.id == v.LastAudit().seq);
  CHECK(stored.device_id == "mac-1");
  CHECK(stored.device_name == "Laptop");
  CHECK(stored.owner == "alice");
  CHECK(stored.actor == "client:mdm");
  CHECK(stored.role == "mdm");
  CHECK_FALSE(stored.reason.has_value());
  CHECK_FALSE(stored.by_owner.has_value());

  REQUIRE(v.service->Retrieve(Alice(), "mac-1", "", std::nullopt).ok());
  storage::EventRow mine = v.LastEvent();
  CHECK(mine.type == "recovery_key.retrieved");
  CHECK(mine.id == v.LastAudit().seq);
  CHECK(mine.by_owner == std::optional<bool>(true));
  CHECK_FALSE(mine.reason.has_value());
  CHECK(mine.actor == "user:alice");

  REQUIRE(v.service->Retrieve(HelpdeskCaller(), "mac-1", "ticket 7", std::nullopt).ok());
  storage::EventRow theirs = v.LastEvent();
  CHECK(theirs.type == "recovery_key.retrieved");
  CHECK(theirs.by_owner == std::optional<bool>(false));
  CHECK(theirs.reason == std::optional<std::string>("ticket 7"));
  CHECK(theirs.owner == "alice");
  CHECK(theirs.role == "helpdesk");

  REQUIRE(v.service->RequestRotation(Alice(), "mac-1").ok());
  storage::EventRow rotation = v.LastEvent();
  CHECK(rotation.type == "rotation.requested");
  CHECK(rotation.owner == "alice");

  // A new key is a new version, and a new event; the same key again makes neither.
  REQUIRE(v.service->StoreKey(Caller::Mdm("mdm"), "mac-1", SecretBytes::CopyOf(kSecondKey),
                              nullptr)
              .ok());
  CHECK(v.LastEvent().type == "recovery_key.stored");
  const std::size_t events = v.Events().size();
  REQUIRE(v.service->StoreKey(Caller::Mdm("mdm"), "mac-1", SecretBytes::CopyOf(kSecondKey),
                              nullptr)
              .ok());
  CHECK(v.Events().size() == events);
  // Retrievals rotate (rotate_after_retrieval) with no event of their own: one record, one id.
  CHECK(events == 5u);
}

TEST_CASE("Access requests write created, approved and denied events", "[vault][events]") {
  EscrowOptions o;
  o.approval_roles.Add(Role::kHelpdesk);
  EventVault v(std::move(o));
  Result<AccessRequest> first = v.service->RequestAccess(HelpdeskCaller(), "mac-1", "ticket 9",
                                                         std::nullopt);
  REQUIRE(first.ok());
  storage::EventRow created = v.LastEvent();
  CHECK(created.type == "access_request.created");
  CHECK(created.reason == std::optional<std::string>("ticket 9"));
  CHECK(created.owner == "alice");
  CHECK(created.device_name == "Laptop");
  REQUIRE(v.service->DecideAccessRequest(Approver(), first->id, true, "fine").ok());
  storage::EventRow approved = v.LastEvent();
  CHECK(approved.type == "access_request.approved");
  CHECK(approved.actor == "user:ap");
  CHECK(approved.owner == "alice");
  CHECK(approved.device_name == "Laptop");
  CHECK(approved.reason == std::optional<std::string>("fine"));
  Result<AccessRequest> second = v.service->RequestAccess(HelpdeskCaller(), "mac-1", "ticket 10",
                                                          std::nullopt);
  REQUIRE(second.ok());
  REQUIRE(v.service->DecideAccessRequest(Approver(), second->id, false, "").ok());
  storage::EventRow denied = v.LastEvent();
  CHECK(denied.type == "access_request.denied");
  CHECK_FALSE(denied.reason.has_value());
}

TEST_CASE("The overdue sweep writes a rotation.overdue event per record it writes",
          "[vault][events]") {
  EventVault v;
  REQUIRE(v.service->RequestRotation(Alice(), "mac-1").ok());
  v.clock.Advance(std::chrono::hours(25));
  Result<std::size_t> noted = v.service->SweepOverdueRotations();
  REQUIRE(noted.ok());
  CHECK(*noted == 1u);
  storage::EventRow overdue = v.LastEvent();
  CHECK(overdue.type == "rotation.overdue");
  CHECK(overdue.actor == "vault");
  CHECK(overdue.role == "system");
  CHECK(overdue.owner == "alice");
  CHECK(v.LastAudit().action == "rotation_overdue");
}

TEST_CASE("Refusals write audit records but no event", "[vault][events]") {
  EventVault v;
  const std::size_t events = v.Events().size();
  const std::size_t records = v.Audit().size();
  const Caller mallory = Caller::User("mallory", {}, "portal");
  CHECK_FALSE(v.service->Retrieve(mallory, "mac-1", "", std::nullopt).ok());
  CHECK_FALSE(v.service->Retrieve(HelpdeskCaller(), "mac-1", "", std::nullopt).ok());  // reason
  CHECK_FALSE(v.service->RequestRotation(mallory, "mac-1").ok());
  const SecretBytes other = SecretBytes::CopyOf(kSecondKey);
  const SecretBytes typo = SecretBytes::CopyOf(kFirstKey);
  CHECK_FALSE(v.service->StoreKey(Alice(), "mac-1", other, &typo).ok());  // keys_mismatch
  CHECK_FALSE(v.service->RequestAccess(HelpdeskCaller(), "mac-1", "", std::nullopt).ok());
  CHECK_FALSE(v.service->DecideAccessRequest(Approver(), std::string(32, 'a'), true, "").ok());
  CHECK(v.Audit().size() == records + 6);
  CHECK(v.Events().size() == events);
}

TEST_CASE("An event that cannot be written fails its commit: no release, no record",
          "[vault][events]") {
  EventVault v;
  const std::string before = v.Dump();
  v.store.FailOn(StoreOp::kEventWrite, Status::Unavailable("disk gone"));
  Result<RetrievedKey> r = v.service->Retrieve(Alice(), "mac-1", "", std::nullopt);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kUnavailable);
  CHECK(v.Dump() == before);
  v.store.Heal(StoreOp::kEventWrite);
  CHECK(v.service->Retrieve(Alice(), "mac-1", "", std::nullopt).ok());
  CHECK(v.LastEvent().type == "recovery_key.retrieved");
}

TEST_CASE("Events are listed to admins, auditors and notifiers, oldest first and paged",
          "[vault][events]") {
  EventVault v;
  for (int i = 0; i < 4; ++i) REQUIRE(v.service->Retrieve(Alice(), "mac-1", "", std::nullopt).ok());
  const std::vector<storage::EventRow> all = v.Events();
  REQUIRE(all.size() == 5u);
  for (const Caller& c : {Admin(), Auditor(), Notifier()}) {
    Result<EventPage> page = v.service->ListEvents(c, 0, 2);
    INFO(c.QualifiedName());
    REQUIRE(page.ok());
    REQUIRE(page->events.size() == 2u);
    CHECK(page->events[0].id == all[0].id);
    CHECK(page->next_after == std::optional<std::uint64_t>(all[1].id));
    Result<EventPage> rest = v.service->ListEvents(c, all[1].id, 100);
    REQUIRE(rest.ok());
    CHECK(rest->events.size() == 3u);
    CHECK_FALSE(rest->next_after.has_value());
  }
  for (const Caller& c : {Alice(), HelpdeskCaller(), Approver(), Caller::Mdm("mdm")}) {
    Result<EventPage> page = v.service->ListEvents(c, 0, 10);
    INFO(c.QualifiedName());
    REQUIRE_FALSE(page.ok());
    CHECK(page.status().reason() == "forbidden");
    CHECK(v.LastAudit().action == "events.read");
    CHECK(v.LastAudit().outcome == "denied");
  }
  for (std::size_t limit : {std::size_t{0}, std::size_t{1001}}) {
    Result<EventPage> page = v.service->ListEvents(Admin(), 0, limit);
    REQUIRE_FALSE(page.ok());
    CHECK(page.status().reason() == "invalid_request");
  }
  // An admin's read is audited, as the audit listing's.
  REQUIRE(v.service->ListEvents(Admin(), 0, 10).ok());
  CHECK(v.LastAudit().action == "events.read");
  CHECK(v.LastAudit().actor == "user:ad");
  CHECK(v.LastAudit().detail == "after=0 events=5");
}

TEST_CASE("A notifier's cursor is stored and audited only when it moves forward",
          "[vault][events]") {
  EventVault v;
  REQUIRE(v.service->Retrieve(Alice(), "mac-1", "", std::nullopt).ok());
  const std::uint64_t newest = v.Events().back().id;
  auto cursor = [&] {
    Result<std::optional<std::uint64_t>> c = storage::ReadValue(
        v.fake_store, [](storage::ReadTxn& txn) { return txn.events().Cursor("notifier"); });
    REQUIRE(c.ok());
    return *c;
  };
  CHECK_FALSE(cursor().has_value());
  std::size_t records = v.Audit().size();
  REQUIRE(v.service->ListEvents(Notifier(), 0, 100).ok());
  CHECK(cursor() == std::optional<std::uint64_t>(0));
  CHECK(v.Audit().size() == ++records);
  CHECK(v.LastAudit().detail == "cursor after=0 events=2");
  REQUIRE(v.service->ListEvents(Notifier(), 0, 100).ok());  // the same poll: nothing written
  CHECK(v.Audit().size() == records);
  REQUIRE(v.service->ListEvents(Notifier(), newest, 100).ok());
  CHECK(cursor() == std::optional<std::uint64_t>(newest));
  CHECK(v.Audit().size() == ++records);
  REQUIRE(v.service->ListEvents(Notifier(), 1, 100).ok());  // going back moves nothing
  CHECK(cursor() == std::optional<std::uint64_t>(newest));
  CHECK(v.Audit().size() == records);
}

TEST_CASE("A notifier client is refused everything but events", "[vault][events]") {
  EventVault v;
  const Caller n = Notifier();
  CHECK(v.service->GetDevice(n, "mac-1").status().reason() == "device_not_found");
  CHECK(v.service->Retrieve(n, "mac-1", "x", std::nullopt).status().reason() ==
        "device_not_found");
  CHECK(v.service->ListAudit(n, std::nullopt, 0, 10).status().reason() == "forbidden");
  CHECK(v.service->AuthorizeMetrics(n).reason() == "forbidden");
  CHECK(v.service->ListDevices(n, std::nullopt, std::nullopt).status().reason() == "forbidden");
  CHECK(v.service->ListAccessRequests(n, std::nullopt, 0, 10).status().reason() == "forbidden");
  const DeviceSpec spec{"SN-9", "Mac", Platform::kMacos, Ownership::kCorporate, "bob", true};
  CHECK(v.service->PutDevice(n, "mac-9", spec).status().reason() == "forbidden");
}

TEST_CASE("The sweep deletes events past keep_days and gives the undelivered age",
          "[vault][events]") {
  EscrowOptions o;
  o.event_keep_days = 2;
  EventVault v(std::move(o));
  CHECK(v.service->UndeliveredEventsAge().value() == 0);  // the store's event, just now
  v.clock.Advance(std::chrono::hours(30));
  REQUIRE(v.service->Retrieve(Alice(), "mac-1", "", std::nullopt).ok());
  // Nobody asked: the oldest event's age.
  CHECK(v.service->UndeliveredEventsAge().value() == std::int64_t{30} * 3600);
  REQUIRE(v.service->ListEvents(Notifier(), v.Events().front().id, 10).ok());
  CHECK(v.service->UndeliveredEventsAge().value() == 0);
  v.clock.Advance(std::chrono::hours(20));  // the first event is 50 hours old now
  CHECK(v.service->UndeliveredEventsAge().value() == std::int64_t{20} * 3600);
  Result<std::size_t> deleted = v.service->SweepEvents();
  REQUIRE(deleted.ok());
  CHECK(*deleted == 1u);
  REQUIRE(v.Events().size() == 1u);
  CHECK(v.Events().front().type == "recovery_key.retrieved");
  CHECK(v.service->SweepEvents().value() == 0u);
}

TEST_CASE("A notifier lagging a day behind gets one alert record per episode",
          "[vault][events]") {
  EventVault v;
  auto alerts = [&] {
    std::size_t n = 0;
    for (const storage::AuditRow& a : v.Audit()) {
      if (a.action == "events_undelivered") ++n;
    }
    return n;
  };
  v.clock.Advance(std::chrono::hours(25));
  REQUIRE(v.service->SweepEvents().ok());
  CHECK(alerts() == 0u);  // no notifier ever asked: nobody to alert about
  REQUIRE(v.service->ListEvents(Notifier(), 0, 10).ok());
  REQUIRE(v.service->SweepEvents().ok());
  CHECK(alerts() == 1u);
  CHECK(v.LastAudit().detail.rfind("alert: events undelivered", 0) == 0);
  CHECK(v.LastAudit().actor == "vault");
  REQUIRE(v.service->SweepEvents().ok());
  CHECK(alerts() == 1u);  // the same episode
  // Caught up: the episode ends; a new lag a day later is a new one.
  REQUIRE(v.service->ListEvents(Notifier(), v.Events().back().id, 10).ok());
  REQUIRE(v.service->SweepEvents().ok());
  CHECK(alerts() == 1u);
  REQUIRE(v.service->Retrieve(Alice(), "mac-1", "", std::nullopt).ok());
  v.clock.Advance(std::chrono::hours(23));
  REQUIRE(v.service->SweepEvents().ok());
  CHECK(alerts() == 1u);
  v.clock.Advance(std::chrono::hours(2));
  REQUIRE(v.service->SweepEvents().ok());
  CHECK(alerts() == 2u);
}

}  // namespace
}  // namespace escrow::vault
