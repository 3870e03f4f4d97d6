#include "vault/escrow_service.h"

#include <catch2/catch.hpp>

#include <map>
#include <thread>

#include "storage/store.h"
#include "tests/vault/vault_fixture.h"
#include "vault/meta.h"

namespace escrow::vault {
namespace {

using testing::Admin;
using testing::Auditor;
using testing::Helpdesk;
using testing::Key;
using testing::Mdm;
using testing::User;
using testing::VaultFixture;

constexpr std::string_view kKey1 = "ABCD-EFGH-IJKL-MNOP-QRST-UVWX";
constexpr std::string_view kKey2 = "WXYZ-2345-6789-ABCD-EFGH-JKLM";

std::string Reveal(const RetrievedKey& k) { return std::string(k.recovery_key.RevealSecretText()); }

TEST_CASE("The user story from enrolment to a helpdesk retrieval of version 1",
          "[vault][service]") {
  VaultFixture f;
  EscrowService& s = f.service();
  f.Enrol("mac-1", "alice");
  SecretBytes typed = Key("abcdefghijklmnopqrstuvwx");
  SecretBytes confirm = Key(kKey1);
  Result<StoreKeyResult> stored = s.StoreKey(User("alice"), "mac-1", typed, &confirm);
  REQUIRE(stored.ok());
  CHECK(stored->version == 1);
  CHECK(stored->created);

  Result<Device> dev = s.GetDevice(User("alice"), "mac-1");
  REQUIRE(dev.ok());
  CHECK(dev->has_recovery_key);
  CHECK(dev->key_version == 1u);
  CHECK_FALSE(dev->rotation_pending);

  Result<RetrievedKey> got = s.Retrieve(User("alice"), "mac-1", "", std::nullopt);
  REQUIRE(got.ok());
  CHECK(Reveal(*got) == kKey1);
  CHECK(got->version == 1);
  CHECK(got->expires_at == f.clock().Now() + std::chrono::minutes(5));

  // The next check-in says rotate; re-storing the same key does not clear it.
  CHECK(*s.CheckIn(Mdm(), "mac-1"));
  SecretBytes same = Key(kKey1);
  Result<StoreKeyResult> again = s.StoreKey(User("alice"), "mac-1", same, &same);
  REQUIRE(again.ok());
  CHECK(again->version == 1);
  CHECK_FALSE(again->created);
  CHECK(*s.CheckIn(Mdm(), "mac-1"));

  // MDM escrows a new key (no confirmation needed): version 2, rotation cleared.
  SecretBytes fresh = Key(kKey2);
  Result<StoreKeyResult> v2 = s.StoreKey(Mdm(), "mac-1", fresh, nullptr);
  REQUIRE(v2.ok());
  CHECK(v2->version == 2);
  CHECK_FALSE(*s.CheckIn(Mdm(), "mac-1"));

  Result<RetrievedKey> cur = s.Retrieve(User("alice"), "mac-1", "", std::nullopt);
  REQUIRE(cur.ok());
  CHECK(cur->version == 2);
  CHECK(Reveal(*cur) == kKey2);

  Result<RetrievedKey> old = s.Retrieve(Helpdesk(), "mac-1", "user locked out, ticket 42", 1u);
  REQUIRE(old.ok());
  CHECK(old->version == 1);
  CHECK(Reveal(*old) == kKey1);

  Result<std::vector<VersionInfo>> versions = s.ListVersions(Auditor(), "mac-1");
  REQUIRE(versions.ok());
  REQUIRE(versions->size() == 2);
  CHECK((*versions)[0].state == VersionState::kSuperseded);
  CHECK((*versions)[0].stored_by == "alice");
  CHECK((*versions)[1].state == VersionState::kActive);
  CHECK((*versions)[1].stored_by == "mdm");
}

TEST_CASE("Storing is refused with the reason a user can act on", "[vault][service]") {
  VaultFixture f;
  EscrowService& s = f.service();
  f.Enrol("mac-1", "alice");
  SecretBytes k = Key(kKey1);
  SecretBytes other = Key(kKey2);

  auto reason = [](const Result<StoreKeyResult>& r) { return r.status().reason(); };
  CHECK(reason(s.StoreKey(User("alice"), "nope", k, &k)) == "device_not_found");
  CHECK(reason(s.StoreKey(User("alice"), "bad id!", k, &k)) == "device_not_found");
  CHECK(reason(s.StoreKey(User("bob"), "mac-1", k, &k)) == "device_not_found");
  CHECK(reason(s.StoreKey(Helpdesk(), "mac-1", k, &k)) == "forbidden");
  CHECK(reason(s.StoreKey(User("alice"), "mac-1", k, nullptr)) == "invalid_request");
  CHECK(reason(s.StoreKey(User("alice"), "mac-1", k, &other)) == "keys_mismatch");
  SecretBytes bad = Key("not-a-key");
  CHECK(reason(s.StoreKey(User("alice"), "mac-1", bad, &bad)) == "invalid_recovery_key");

  // Not synced: the last check-in is older than the window.
  f.clock().Advance(std::chrono::hours(24 * 7 + 1));
  CHECK(reason(s.StoreKey(User("alice"), "mac-1", k, &k)) == "device_not_synced");
  REQUIRE(s.CheckIn(Mdm(), "mac-1").ok());
  CHECK(s.StoreKey(User("alice"), "mac-1", k, &k).ok());

  // Encryption not enabled by the organisation.
  REQUIRE(s.PutDevice(Mdm(), "mac-2",
                      DeviceSpec{"S2", "n", Platform::kMacos, Ownership::kCorporate, "alice", false})
              .ok());
  REQUIRE(s.CheckIn(Mdm(), "mac-2").ok());
  CHECK(reason(s.StoreKey(User("alice"), "mac-2", k, &k)) == "encryption_not_enabled");
  // Never checked in at all.
  REQUIRE(s.PutDevice(Mdm(), "mac-3",
                      DeviceSpec{"S3", "n", Platform::kMacos, Ownership::kCorporate, "alice", true})
              .ok());
  CHECK(reason(s.StoreKey(User("alice"), "mac-3", k, &k)) == "device_not_synced");
}

TEST_CASE("A denial changes nothing but the audit trail", "[vault][service]") {
  VaultFixture f;
  EscrowService& s = f.service();
  f.Enrol("mac-1", "alice", Ownership::kPersonal);
  SecretBytes k = Key(kKey1);
  REQUIRE(s.StoreKey(User("alice"), "mac-1", k, &k).ok());
  auto snapshot = [&] {
    Device d = *s.GetDevice(Admin(), "mac-1");
    return std::make_tuple(d.rotation_pending, d.key_version, d.owner, d.name,
                           storage::ReadValue(f.store(), [](storage::ReadTxn& txn) {
                             return txn.versions().List("mac-1");
                           })->size());
  };
  const auto before = snapshot();
  const std::uint64_t seq_before = f.audit().head().seq;

  CHECK(s.Retrieve(Helpdesk(), "mac-1", "ticket", std::nullopt).status().reason() ==
        "personal_device");
  CHECK(s.Retrieve(User("bob"), "mac-1", "", std::nullopt).status().reason() ==
        "device_not_found");
  CHECK(s.Retrieve(Auditor(), "mac-1", "x", std::nullopt).status().reason() == "forbidden");
  CHECK(s.RequestRotation(Auditor(), "mac-1").reason() == "forbidden");
  CHECK(s.CheckIn(User("alice"), "mac-1").status().reason() == "forbidden");
  CHECK(s.PutDevice(Admin(), "mac-1",
                    DeviceSpec{"S", "n", Platform::kMacos, Ownership::kCorporate, "alice", true})
            .status()
            .reason() == "forbidden");
  CHECK(s.ListAudit(Helpdesk(), std::nullopt, 0, 10).status().reason() == "forbidden");
  CHECK(s.ListDevices(User("alice"), "bob", std::nullopt).status().reason() == "forbidden");
  CHECK(s.AuthorizeMetrics(Auditor()).reason() == "forbidden");

  // Every denial above is audited; the admin GetDevice reads in snapshot() add one each.
  const auto after = snapshot();
  CHECK(before == after);
  Result<AuditPage> page = s.ListAudit(Auditor(), std::string_view("mac-1"), seq_before, 100);
  REQUIRE(page.ok());
  int denied = 0;
  for (const AuditRecord& r : page->records) denied += r.event.outcome == "denied";
  CHECK(denied == 6);  // the device-bound denials (list/audit/metrics denials have no device)
}

TEST_CASE("Helpdesk and admin need a reason, and may fetch older versions", "[vault][service]") {
  VaultFixture f;
  EscrowService& s = f.service();
  f.Enrol("mac-1", "alice");
  SecretBytes k1 = Key(kKey1), k2 = Key(kKey2);
  REQUIRE(s.StoreKey(Mdm(), "mac-1", k1, nullptr).ok());
  REQUIRE(s.StoreKey(Mdm(), "mac-1", k2, nullptr).ok());
  CHECK(s.Retrieve(Helpdesk(), "mac-1", "", std::nullopt).status().reason() == "invalid_request");
  CHECK(s.Retrieve(Admin(), "mac-1", "bad\nreason", std::nullopt).status().reason() ==
        "invalid_request");
  CHECK(s.Retrieve(User("alice"), "mac-1", "", 1u).status().reason() == "forbidden");
  CHECK(s.Retrieve(Admin(), "mac-1", "ticket 7", 9u).status().reason() ==
        "recovery_key_not_found");
  Result<RetrievedKey> r = s.Retrieve(Admin(), "mac-1", "ticket 7", 1u);
  REQUIRE(r.ok());
  CHECK(Reveal(*r) == kKey1);
  // The owner asking for the current version by number is the current key.
  CHECK(s.Retrieve(User("alice"), "mac-1", "", 2u).ok());
}

TEST_CASE("An owner change hides old versions from the new owner and sets rotation",
          "[vault][service]") {
  VaultFixture f;
  EscrowService& s = f.service();
  f.Enrol("mac-1", "alice");
  SecretBytes k1 = Key(kKey1);
  REQUIRE(s.StoreKey(User("alice"), "mac-1", k1, &k1).ok());
  REQUIRE(s.PutDevice(Mdm(), "mac-1",
                      DeviceSpec{"SN-mac-1", "Laptop", Platform::kMacos, Ownership::kCorporate,
                                 "bob", true})
              .ok());
  Device d = *s.GetDevice(User("bob"), "mac-1");
  CHECK_FALSE(d.has_recovery_key);
  CHECK(d.rotation_pending);
  CHECK_FALSE(d.key_version.has_value());
  CHECK(s.Retrieve(User("bob"), "mac-1", "", std::nullopt).status().reason() ==
        "recovery_key_not_found");
  CHECK(s.Retrieve(User("bob"), "mac-1", "", 1u).status().reason() == "recovery_key_not_found");
  CHECK(s.Retrieve(User("alice"), "mac-1", "", std::nullopt).status().reason() ==
        "device_not_found");
  // Helpdesk is judged by the recorded (corporate) ownership of version 1.
  CHECK(s.Retrieve(Helpdesk(), "mac-1", "ticket", 1u).ok());
  // The same key stored by the new owner is a new version but does not clear the rotation:
  // the previous owner knows it.
  REQUIRE(s.CheckIn(Mdm(), "mac-1").ok());
  Result<StoreKeyResult> same = s.StoreKey(User("bob"), "mac-1", k1, &k1);
  REQUIRE(same.ok());
  CHECK(same->version == 2);
  CHECK(s.GetDevice(User("bob"), "mac-1")->rotation_pending);
  SecretBytes k2 = Key(kKey2);
  REQUIRE(s.StoreKey(User("bob"), "mac-1", k2, &k2).ok());
  CHECK_FALSE(s.GetDevice(User("bob"), "mac-1")->rotation_pending);
  // Bob's listing leaves out alice's version (and that she stored it); roles see them all.
  Result<std::vector<VersionInfo>> bobs = s.ListVersions(User("bob"), "mac-1");
  REQUIRE(bobs.ok());
  REQUIRE_FALSE(bobs->empty());
  for (const VersionInfo& v : *bobs) {
    CHECK(v.version != 1);
    CHECK(v.stored_by == "bob");
  }
  const std::size_t all = bobs->size() + 1;
  CHECK(s.ListVersions(Auditor(), "mac-1")->size() == all);
  CHECK(s.ListVersions(Helpdesk(), "mac-1")->size() == all);
  CHECK(s.ListVersions(Mdm(), "mac-1")->size() == all);
  CHECK(s.ListVersions(User("alice"), "mac-1").status().reason() == "device_not_found");
  // Admin may not change the owner; only mdm.
  CHECK(s.PutDevice(Admin(), "mac-1",
                    DeviceSpec{"SN", "L", Platform::kMacos, Ownership::kPersonal, "bob", true})
            .status()
            .reason() == "forbidden");
}

TEST_CASE("An ownership flip with the same owner leaves the owner their key - helpdesk is judged "
          "by each version's recorded ownership (L2)",
          "[vault][service]") {
  VaultFixture f;
  EscrowService& s = f.service();
  f.Enrol("mac-1", "alice", Ownership::kCorporate);
  SecretBytes k1 = Key(kKey1), k2 = Key(kKey2);
  REQUIRE(s.StoreKey(User("alice"), "mac-1", k1, &k1).ok());
  auto flip = [&](Ownership to) {
    REQUIRE(s.PutDevice(Mdm(), "mac-1",
                        DeviceSpec{"SN-mac-1", "Laptop", Platform::kMacos, to, "alice", true})
                .ok());
  };

  // corporate -> personal: version 1 (stored as corporate) is still alice's current key.
  flip(Ownership::kPersonal);
  Device d = *s.GetDevice(User("alice"), "mac-1");
  CHECK(d.has_recovery_key);
  CHECK(d.key_version == 1u);
  CHECK(d.rotation_pending);  // an ownership change asks for a new key all the same
  Result<RetrievedKey> mine = s.Retrieve(User("alice"), "mac-1", "", std::nullopt);
  REQUIRE(mine.ok());
  CHECK(Reveal(*mine) == kKey1);
  // Storing the same key again changes nothing: it is the current one.
  Result<StoreKeyResult> same = s.StoreKey(User("alice"), "mac-1", k1, &k1);
  REQUIRE(same.ok());
  CHECK_FALSE(same->created);
  // Version 1 was stored as corporate: helpdesk may have it (with a reason).
  CHECK(s.Retrieve(Helpdesk(), "mac-1", "ticket 13", std::nullopt).ok());

  // A key stored while personal, then personal -> corporate: still alice's, never helpdesk's.
  REQUIRE(s.StoreKey(User("alice"), "mac-1", k2, &k2).ok());
  flip(Ownership::kCorporate);
  CHECK(s.GetDevice(User("alice"), "mac-1")->key_version == 2u);
  Result<RetrievedKey> again = s.Retrieve(User("alice"), "mac-1", "", std::nullopt);
  REQUIRE(again.ok());
  CHECK(Reveal(*again) == kKey2);
  CHECK(s.Retrieve(Helpdesk(), "mac-1", "ticket 13", std::nullopt).status().reason() ==
        "personal_device");
  CHECK(s.Retrieve(Admin(), "mac-1", "ticket 13", 2u).status().reason() == "personal_device");
  CHECK(s.Retrieve(Helpdesk(), "mac-1", "ticket 13", 1u).ok());
}

TEST_CASE("Helpdesk retrievals have a quota per person", "[vault][service][quota]") {
  EscrowOptions options;
  options.daily_quota = 2;
  VaultFixture f(options);
  EscrowService& s = f.service();
  f.Enrol("mac-1", "alice");
  SecretBytes k = Key(kKey1);
  REQUIRE(s.StoreKey(Mdm(), "mac-1", k, nullptr).ok());
  CHECK(s.Retrieve(Helpdesk("hd1"), "mac-1", "t1", std::nullopt).ok());
  CHECK(s.Retrieve(Helpdesk("hd1"), "mac-1", "t2", std::nullopt).ok());
  Result<RetrievedKey> third = s.Retrieve(Helpdesk("hd1"), "mac-1", "t3", std::nullopt);
  REQUIRE_FALSE(third.ok());
  CHECK(third.status().code() == Code::kResourceExhausted);
  CHECK(third.status().retry_after_seconds() == std::int64_t{24} * 3600);  // both were made just now
  // Another person, and the owner, are not affected; 24 hours later the slots are free.
  CHECK(s.Retrieve(Helpdesk("hd2"), "mac-1", "t", std::nullopt).ok());
  CHECK(s.Retrieve(User("alice"), "mac-1", "", std::nullopt).ok());
  f.clock().Advance(std::chrono::hours(24));
  CHECK(s.Retrieve(Helpdesk("hd1"), "mac-1", "t4", std::nullopt).ok());
  // The refusal left an alert in the audit trail.
  Result<AuditPage> page = s.ListAudit(Auditor(), std::string_view("mac-1"), 0, 1000);
  bool alert = false;
  for (const auto& r : page->records) alert |= r.event.detail.find("alert") != std::string::npos;
  CHECK(alert);
}

// Moves the clock forward to the next hh:mm UTC.
void AdvanceToUtc(testing::ManualClock& clock, int hour, int minute) {
  constexpr std::int64_t kDayMs = 86'400'000;
  const std::int64_t now = ToUnixMillis(clock.Now());
  std::int64_t target = now / kDayMs * kDayMs + (hour * 3600 + minute * 60) * std::int64_t{1000};
  if (target <= now) target += kDayMs;
  clock.Advance(std::chrono::milliseconds(target - now));
}

// How many of the principal's retrievals the quota counts now.
std::int64_t QuotaUsed(VaultFixture& f, std::string_view principal) {
  Result<storage::QuotaWindow> window = storage::ReadValue(f.store(), [&](storage::ReadTxn& txn) {
    return txn.limits().GetQuotaWindow(principal,
                                       ToUnixMillis(f.clock().Now() - std::chrono::hours(24)));
  });
  REQUIRE(window.ok());
  return window->count;
}

// The quota alerts in the audit trail of a device.
int QuotaAlerts(EscrowService& s, std::string_view device_id) {
  Result<AuditPage> page = s.ListAudit(Auditor(), device_id, 0, 1000);
  REQUIRE(page.ok());
  int alerts = 0;
  for (const AuditRecord& r : page->records) {
    // After what the caller said (the stated reason), the alert.
    alerts += r.event.outcome == "denied" &&
              r.event.detail.ends_with("alert: daily quota exceeded");
  }
  return alerts;
}

TEST_CASE("The helpdesk quota is a rolling 24 hours and cannot be spent twice across midnight",
          "[vault][service][quota]") {
  using std::chrono::milliseconds;
  using std::chrono::seconds;
  EscrowOptions options;
  options.daily_quota = 3;
  VaultFixture f(options);
  EscrowService& s = f.service();
  f.Enrol("mac-1", "alice");
  SecretBytes k = Key(kKey1);
  REQUIRE(s.StoreKey(Mdm(), "mac-1", k, nullptr).ok());
  auto retrieve = [&] { return s.Retrieve(Helpdesk("hd1"), "mac-1", "ticket", std::nullopt); };

  // The whole quota at 23:59 UTC: at :00, :20 and :40.
  AdvanceToUtc(f.clock(), 23, 59);
  const TimePoint first = f.clock().Now();
  for (int i = 0; i < 3; ++i) {
    REQUIRE(retrieve().ok());
    f.clock().Advance(seconds(20));
  }
  // 00:01 UTC: a new UTC day, but the same 24 hours. Retry-After is the time until the first
  // retrieval leaves the window (24 h after it: 23 h 58 min from now).
  AdvanceToUtc(f.clock(), 0, 1);
  Result<RetrievedKey> after_midnight = retrieve();
  REQUIRE_FALSE(after_midnight.ok());
  CHECK(after_midnight.status().code() == Code::kResourceExhausted);
  CHECK(after_midnight.status().reason() == "rate_limited");
  CHECK(after_midnight.status().retry_after_seconds() == 24 * 3600 - 120);

  // A millisecond before the first retrieval leaves: still refused, and told to wait 1 s.
  f.clock().Advance(
      std::chrono::duration_cast<milliseconds>(first + std::chrono::hours(24) - f.clock().Now()) -
      milliseconds(1));
  Result<RetrievedKey> just_before = retrieve();
  REQUIRE_FALSE(just_before.ok());
  CHECK(just_before.status().code() == Code::kResourceExhausted);
  CHECK(just_before.status().retry_after_seconds() == 1);

  // 24 h after the first retrieval its slot is free: one more, and only one.
  f.clock().Advance(milliseconds(1));
  CHECK(retrieve().ok());
  Result<RetrievedKey> next = retrieve();
  REQUIRE_FALSE(next.ok());
  CHECK(next.status().code() == Code::kResourceExhausted);
  CHECK(next.status().retry_after_seconds() == 20);  // the second one leaves 20 s later
  f.clock().Advance(seconds(20));
  CHECK(retrieve().ok());

  // Each refusal released nothing, counted nothing and left an alert in the audit trail.
  CHECK(QuotaUsed(f, "user:hd1") == 3);
  CHECK(QuotaAlerts(s, "mac-1") == 3);
}

TEST_CASE("A helpdesk user's retrievals of their own device do not count against the quota",
          "[vault][service][quota]") {
  EscrowOptions options;
  options.daily_quota = 2;
  VaultFixture f(options);
  EscrowService& s = f.service();
  f.Enrol("hd-mac", "hd1");
  f.Enrol("mac-1", "alice");
  SecretBytes k = Key(kKey1);
  REQUIRE(s.StoreKey(Mdm(), "hd-mac", k, nullptr).ok());
  REQUIRE(s.StoreKey(Mdm(), "mac-1", k, nullptr).ok());
  for (int i = 0; i < 5; ++i) CHECK(s.Retrieve(Helpdesk("hd1"), "hd-mac", "", std::nullopt).ok());
  CHECK(QuotaUsed(f, "user:hd1") == 0);
  CHECK(s.Retrieve(Helpdesk("hd1"), "mac-1", "t1", std::nullopt).ok());
  CHECK(s.Retrieve(Helpdesk("hd1"), "mac-1", "t2", std::nullopt).ok());
  CHECK(s.Retrieve(Helpdesk("hd1"), "mac-1", "t3", std::nullopt).status().code() ==
        Code::kResourceExhausted);
  // Over the quota, their own device is still theirs.
  CHECK(s.Retrieve(Helpdesk("hd1"), "hd-mac", "", std::nullopt).ok());
  CHECK(QuotaUsed(f, "user:hd1") == 2);
}

TEST_CASE("A user named like a client is never taken for it: audit actors and quota keys carry "
          "the kind, stored_by stays the bare name beside stored_by_kind (L3)",
          "[vault][service][quota]") {
  EscrowOptions options;
  options.daily_quota = 5;
  VaultFixture f(options);
  EscrowService& s = f.service();
  f.Enrol("mac-1", "mdm");
  f.Enrol("mac-2", "alice");
  SecretBytes k1 = Key(kKey1), k2 = Key(kKey2);
  REQUIRE(s.StoreKey(User("mdm"), "mac-1", k1, &k1).ok());
  REQUIRE(s.StoreKey(Mdm(), "mac-1", k2, nullptr).ok());
  REQUIRE(s.StoreKey(Mdm(), "mac-2", k1, nullptr).ok());
  Result<std::vector<VersionInfo>> versions = s.ListVersions(User("mdm"), "mac-1");
  REQUIRE(versions.ok());
  REQUIRE(versions->size() == 2);
  CHECK((*versions)[0].stored_by == "mdm");
  CHECK((*versions)[0].stored_by_kind == PrincipalKind::kUser);
  CHECK((*versions)[1].stored_by == "mdm");
  CHECK((*versions)[1].stored_by_kind == PrincipalKind::kClient);

  // A helpdesk user whose owner claim is "mdm": their quota is theirs alone.
  REQUIRE(s.Retrieve(Helpdesk("mdm"), "mac-2", "ticket 13", std::nullopt).ok());
  CHECK(QuotaUsed(f, "user:mdm") == 1);
  CHECK(QuotaUsed(f, "mdm") == 0);
  CHECK(QuotaUsed(f, "client:mdm") == 0);

  Result<AuditPage> page = s.ListAudit(Auditor(), std::nullopt, 0, 1000);
  REQUIRE(page.ok());
  std::map<std::string, int> stores_by;
  for (const AuditRecord& r : page->records) {
    CHECK(r.event.actor != "mdm");  // every actor names its kind
    if (r.event.action == "key.store") ++stores_by[r.event.actor + " as " + r.event.role];
    if (r.event.action == "device.enrol") CHECK(r.event.actor == "client:mdm");
  }
  const std::map<std::string, int> want{{"user:mdm as user", 1}, {"client:mdm as mdm", 2}};
  CHECK(stores_by == want);
}

TEST_CASE("A quota of 0 switches the helpdesk quota off", "[vault][service][quota]") {
  EscrowOptions options;
  options.daily_quota = 0;
  VaultFixture f(options);
  EscrowService& s = f.service();
  f.Enrol("mac-1", "alice");
  SecretBytes k = Key(kKey1);
  REQUIRE(s.StoreKey(Mdm(), "mac-1", k, nullptr).ok());
  for (int i = 0; i < 30; ++i) {
    INFO("retrieval " << i);
    REQUIRE(s.Retrieve(Helpdesk("hd1"), "mac-1", "ticket", std::nullopt).ok());
    REQUIRE(s.Retrieve(Admin("ad1"), "mac-1", "ticket", std::nullopt).ok());
  }
  CHECK(QuotaUsed(f, "user:hd1") == 0);  // nothing recorded either
  CHECK(QuotaAlerts(s, "mac-1") == 0);
}

TEST_CASE("Listing devices: own for users, by owner or serial for roles", "[vault][service]") {
  VaultFixture f;
  EscrowService& s = f.service();
  f.Enrol("a1", "alice");
  f.Enrol("a2", "alice");
  f.Enrol("b1", "bob");
  CHECK(s.ListDevices(User("alice"), "me", std::nullopt)->devices.size() == 2);
  CHECK(s.ListDevices(User("alice"), std::nullopt, std::nullopt)->devices.size() == 2);
  CHECK(s.ListDevices(User("bob"), "bob", std::nullopt)->devices.size() == 1);
  CHECK(s.ListDevices(Helpdesk(), "alice", std::nullopt)->devices.size() == 2);
  CHECK(s.ListDevices(Auditor(), std::nullopt, "SN-b1")->devices.size() == 1);
  CHECK_FALSE(s.ListDevices(Helpdesk(), "alice", std::nullopt)->next_after.has_value());
  CHECK(s.ListDevices(Mdm(), "me", std::nullopt).status().reason() == "forbidden");
  CHECK(s.ListDevices(Admin(), "x", "y").status().reason() == "invalid_request");
}

TEST_CASE("Listing devices pages in id order - next_after only while more follow",
          "[vault][service]") {
  VaultFixture f;
  EscrowService& s = f.service();
  // Enrolled out of order, with bob's devices between alice's ids.
  for (const char* id : {"a5", "a2", "a7", "a1", "a4", "a3", "a6"}) f.Enrol(id, "alice");
  f.Enrol("a3b", "bob");
  f.Enrol("a6b", "bob");
  using V = std::vector<std::string>;
  struct Walk {
    std::vector<V> pages;
    std::vector<std::optional<std::string>> next;
  };
  auto walk = [&](const Caller& caller, std::optional<std::string_view> owner, std::size_t limit) {
    Walk w;
    std::optional<std::string> after;
    for (int i = 0; i < 20; ++i) {
      DevicePaging paging;
      if (after) paging.after = *after;
      paging.limit = limit;
      Result<DevicePage> page = s.ListDevices(caller, owner, std::nullopt, std::nullopt, paging);
      REQUIRE(page.ok());
      V ids;
      for (const Device& d : page->devices) ids.push_back(d.id);
      w.pages.push_back(ids);
      w.next.push_back(page->next_after);
      if (!page->next_after) break;
      after = page->next_after;
    }
    return w;
  };

  SECTION("own devices, three at a time") {
    Walk w = walk(User("alice"), "me", 3);
    CHECK(w.pages == std::vector<V>{{"a1", "a2", "a3"}, {"a4", "a5", "a6"}, {"a7"}});
    CHECK(w.next == std::vector<std::optional<std::string>>{"a3", "a6", std::nullopt});
  }
  SECTION("a page that ends exactly at the last device has no next_after") {
    Walk w = walk(Helpdesk(), "alice", 7);
    CHECK(w.pages == std::vector<V>{{"a1", "a2", "a3", "a4", "a5", "a6", "a7"}});
    CHECK(w.next == std::vector<std::optional<std::string>>{std::nullopt});
  }
  SECTION("limit 1") {
    Walk w = walk(User("bob"), std::nullopt, 1);
    CHECK(w.pages == std::vector<V>{{"a3b"}, {"a6b"}});
    CHECK(w.next == std::vector<std::optional<std::string>>{"a3b", std::nullopt});
  }
  SECTION("by serial") {
    DevicePaging paging;
    paging.after = "a1";
    Result<DevicePage> page = s.ListDevices(Auditor(), std::nullopt, "SN-a2", std::nullopt, paging);
    REQUIRE(page.ok());
    REQUIRE(page->devices.size() == 1);
    CHECK(page->devices[0].id == "a2");
    paging.after = "a2";
    page = s.ListDevices(Auditor(), std::nullopt, "SN-a2", std::nullopt, paging);
    REQUIRE(page.ok());
    CHECK(page->devices.empty());
    CHECK_FALSE(page->next_after.has_value());
  }
  SECTION("after past the end is an empty last page") {
    DevicePaging paging;
    paging.after = "zzz";
    Result<DevicePage> page =
        s.ListDevices(User("alice"), "me", std::nullopt, std::nullopt, paging);
    REQUIRE(page.ok());
    CHECK(page->devices.empty());
    CHECK_FALSE(page->next_after.has_value());
  }
  SECTION("a limit outside 1 to 1000 or an after that is no device id is invalid_request") {
    for (std::size_t limit : {std::size_t{0}, std::size_t{1001}}) {
      DevicePaging paging;
      paging.limit = limit;
      CHECK(s.ListDevices(User("alice"), "me", std::nullopt, std::nullopt, paging)
                .status()
                .reason() == "invalid_request");
    }
    for (const char* after : {"", "a b", "a/1"}) {
      DevicePaging paging;
      paging.after = after;
      CHECK(s.ListDevices(User("alice"), "me", std::nullopt, std::nullopt, paging)
                .status()
                .reason() == "invalid_request");
    }
    DevicePaging paging;
    paging.limit = 1000;
    CHECK(s.ListDevices(User("alice"), "me", std::nullopt, std::nullopt, paging).ok());
  }
}

TEST_CASE("Listing devices gives at most 100 by default, with next_after", "[vault][service]") {
  VaultFixture f;
  EscrowService& s = f.service();
  std::vector<std::string> ids;
  for (int i = 0; i < 101; ++i) {
    const std::string id = "d" + std::to_string(1000 + i);  // one length: id order is numeric
    ids.push_back(id);
    f.Enrol(id, "alice");
  }
  Result<DevicePage> first = s.ListDevices(User("alice"), "me", std::nullopt);
  REQUIRE(first.ok());
  REQUIRE(first->devices.size() == 100);
  CHECK(first->devices.front().id == ids.front());
  CHECK(first->devices.back().id == ids[99]);
  CHECK(first->next_after == ids[99]);
  DevicePaging paging;
  paging.after = ids[99];
  Result<DevicePage> rest = s.ListDevices(User("alice"), "me", std::nullopt, std::nullopt, paging);
  REQUIRE(rest.ok());
  REQUIRE(rest->devices.size() == 1);
  CHECK(rest->devices[0].id == ids.back());
  CHECK_FALSE(rest->next_after.has_value());
}

TEST_CASE("Keys of every kind are validated for the device's platform", "[vault][service]") {
  VaultFixture f;
  EscrowService& s = f.service();
  f.Enrol("win-1", "alice", Ownership::kCorporate, Platform::kWindows);
  f.Enrol("lnx-1", "alice", Ownership::kCorporate, Platform::kLinux);
  SecretBytes bitlocker = Key("000000-000011-719895-123453-000022-111111-222222-333333");
  SecretBytes bad_group = Key("000000-000011-719895-123453-000022-111111-222222-333334");
  SecretBytes luks = Key("correct horse battery staple");
  CHECK(s.StoreKey(User("alice"), "win-1", bitlocker, &bitlocker).ok());
  CHECK(s.StoreKey(User("alice"), "win-1", bad_group, &bad_group).status().reason() ==
        "invalid_recovery_key");
  CHECK(s.StoreKey(User("alice"), "lnx-1", luks, &luks).ok());
  SecretBytes mac = Key(kKey1);
  CHECK(s.StoreKey(User("alice"), "lnx-1", mac, &mac).ok());  // a valid passphrase too
  CHECK(s.StoreKey(User("alice"), "win-1", mac, &mac).status().reason() ==
        "invalid_recovery_key");
  CHECK(std::string(s.Retrieve(User("alice"), "win-1", "", std::nullopt)
                        ->recovery_key.RevealSecretText()) ==
        "000000-000011-719895-123453-000022-111111-222222-333333");
}

TEST_CASE("Keys survive a restart on the same token and database", "[vault][service]") {
  VaultFixture f;
  f.Enrol("mac-1", "alice");
  SecretBytes k = Key(kKey1);
  REQUIRE(f.service().StoreKey(User("alice"), "mac-1", k, &k).ok());
  f.Reopen();
  Result<RetrievedKey> r = f.service().Retrieve(User("alice"), "mac-1", "", std::nullopt);
  REQUIRE(r.ok());
  CHECK(Reveal(*r) == kKey1);
  Result<AuditVerifyReport> v = f.service().VerifyAudit(Auditor());
  REQUIRE(v.ok());
  CHECK(v->ok);
}


// Several nodes with a token each (docs/operations.md §17): `master-key rotate` on one node
// activates the new master key for all of them at once, and another node's token lacks it until
// `master-key restore --add` runs there. That node's reads of records sealed under the new key
// are its own outage (503 unavailable, like a lost token), never a record that failed its
// integrity check (500 integrity_error, an alert in the trail).
TEST_CASE("A record sealed under a master key this node's token does not hold yet is 503 and no "
          "integrity error",
          "[vault][service][rotation]") {
  VaultFixture f;
  EscrowService& s = f.service();
  f.Enrol("mac-1", "alice");
  f.Enrol("mac-2", "alice");
  SecretBytes k1 = Key(kKey1);
  REQUIRE(s.StoreKey(User("alice"), "mac-1", k1, &k1).ok());
  // Another node's rotation: escrow-master-v2 made and activated, a record sealed under it.
  REQUIRE(f.keys().GenerateKey(hsm::KeyRole::kMaster, 2, false).ok());
  REQUIRE(f.store()
              .Write([](storage::WriteTxn& txn) {
                return WriteMetaVersion(txn, MetaKey::kActiveMasterKeyVersion, 2);
              })
              .ok());
  SecretBytes k2 = Key(kKey2);
  REQUIRE(s.StoreKey(User("alice"), "mac-2", k2, &k2).ok());
  // This node's token does not hold v2 (restore --add has not run here yet).
  REQUIRE(f.keys().DestroyKey(hsm::KeyRole::kMaster, 2).ok());

  Result<RetrievedKey> behind = s.Retrieve(Helpdesk(), "mac-2", "ticket 9", std::nullopt);
  REQUIRE_FALSE(behind.ok());
  CHECK(behind.status().code() == Code::kUnavailable);
  CHECK(behind.status().reason() == "unavailable");
  CHECK_THAT(behind.status().message(), Catch::Contains("escrow-master-v2"));
  CHECK_THAT(behind.status().message(), Catch::Contains("restore --add"));
  // Stores under the active v2 are refused as the outage they are (503 store_failed).
  CHECK(s.StoreKey(User("alice"), "mac-1", k2, &k2).status().reason() == "store_failed");
  // A record under v1, which the token holds, still opens.
  Result<RetrievedKey> held = s.Retrieve(Helpdesk(), "mac-1", "ticket 9", std::nullopt);
  REQUIRE(held.ok());
  CHECK(Reveal(*held) == kKey1);
  // A row naming a version the database never made is an edited row: integrity_error.
  f.Sql("UPDATE key_versions SET master_key_version = 7 WHERE device_id = 'mac-1';");
  Result<RetrievedKey> edited = s.Retrieve(Helpdesk(), "mac-1", "ticket 9", std::nullopt);
  REQUIRE_FALSE(edited.ok());
  CHECK(edited.status().reason() == "integrity_error");
}

TEST_CASE("A denied retrieval's audit record keeps the stated reason and the version asked for",
          "[vault][service][audit]") {
  VaultFixture f;
  EscrowService& s = f.service();
  f.Enrol("mac-1", "alice", Ownership::kPersonal);
  SecretBytes k = Key(kKey1);
  REQUIRE(s.StoreKey(User("alice"), "mac-1", k, &k).ok());
  const std::uint64_t seq = f.audit().head().seq;
  CHECK(s.Retrieve(Helpdesk(), "mac-1", "ticket \"42\" \xff", 1u).status().reason() ==
        "personal_device");
  Result<AuditPage> page = s.ListAudit(Auditor(), std::string_view("mac-1"), seq, 10);
  REQUIRE(page.ok());
  REQUIRE_FALSE(page->records.empty());
  const AuditEvent& e = page->records.front().event;
  CHECK(e.outcome == "denied");
  CHECK(e.reason == "personal_device");
  CHECK_THAT(e.detail, Catch::Contains("asked version=1"));
  CHECK_THAT(e.detail, Catch::Contains(R"(stated reason="ticket "42" \xff")"));
}

TEST_CASE("Health checks the database and the token's keys without any cryptography, and a "
          "started monitor answers from its newest check",
          "[vault][service][health]") {
  VaultFixture f;
  EscrowService& s = f.service();
  CHECK(s.CheckHealth().ok);
  CHECK(s.Health().ok);
  s.StartHealthMonitor(std::chrono::hours(1));  // no periodic check within this test
  CHECK(s.Health().ok);
  // The master key is gone from the token: the cached answer stands until a check runs.
  REQUIRE(f.keys().DestroyKey(hsm::KeyRole::kMaster, 1).ok());
  CHECK(s.Health().ok);
  HealthReport direct = s.CheckHealth();
  CHECK_FALSE(direct.ok);
  CHECK(direct.hsm == "unavailable");
  s.NoteUnavailable();  // what a request that met the failure does: the monitor checks now
  for (int i = 0; i < 500 && s.Health().ok; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  CHECK_FALSE(s.Health().ok);
  CHECK(s.Health().hsm == "unavailable");
}

}  // namespace
}  // namespace escrow::vault
