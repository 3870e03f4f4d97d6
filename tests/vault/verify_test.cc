// EscrowService::VerifyKey (API.md, "Checking a key without releasing it") and the version
// fields of the second release (key_id, source), on the in-memory fakes.
#include <catch2/catch.hpp>

#include <algorithm>

#include "tests/vault/fake_vault.h"
#include "vault/escrow_service.h"

namespace escrow::vault {
namespace {

using testing::FakeVault;
using testing::kFirstKey;
using testing::kSecondKey;
using testing::KeyOp;

Caller Mdm() { return Caller::Mdm("mdm"); }
Caller Alice() { return Caller::User("alice", {}, "portal"); }

SecretBytes K(std::string_view text) { return SecretBytes::CopyOf(text); }

Result<VerifyResult> Verify(FakeVault& v, const Caller& c, std::string_view key,
                            std::optional<std::uint32_t> version = std::nullopt) {
  return v.service->VerifyKey(c, "mac-1", K(key), version);
}

std::vector<AuditRecord> Records(FakeVault& v, std::string_view device = "mac-1") {
  RoleSet roles;
  roles.Add(Role::kAuditor);
  Result<AuditPage> page =
      v.service->ListAudit(Caller::User("au", roles, "portal"), device, 0, 1000);
  REQUIRE(page.ok());
  return page->records;
}

std::optional<TimePoint> VerifiedAt(FakeVault& v) {
  Result<Device> d = v.service->GetDevice(Mdm(), "mac-1");
  REQUIRE(d.ok());
  return d->escrow_verified_at;
}

TEST_CASE("Verify answers whether a key matches the current version, and never decrypts",
          "[vault][verify]") {
  FakeVault v;
  const int decrypts = v.keys.calls(KeyOp::kDecrypt);
  // Typed in lower case without dashes: normalised like a store.
  Result<VerifyResult> match = Verify(v, Alice(), "abcdefghijklmnopqrstuvwx");
  REQUIRE(match.ok());
  CHECK(match->matches);
  CHECK(match->version == 1u);
  Result<VerifyResult> other = Verify(v, Mdm(), kSecondKey);
  REQUIRE(other.ok());
  CHECK_FALSE(other->matches);
  CHECK(other->version == 1u);
  CHECK(v.keys.calls(KeyOp::kDecrypt) == decrypts);
  // Audited with version and outcome, never the key.
  std::vector<AuditRecord> records = Records(v);
  int verifies = 0;
  for (const AuditRecord& r : records) {
    if (r.event.action != "key.verify") continue;
    ++verifies;
    CHECK(r.event.outcome == "ok");
    CHECK(r.event.detail.find("version=1") != std::string::npos);
    CHECK(r.event.detail.find("ABCD") == std::string::npos);
    CHECK(r.event.detail.find("WXYZ") == std::string::npos);
  }
  CHECK(verifies == 2);
  CHECK(records.back().event.detail == "version=1 mismatch");
}

TEST_CASE("A match on the current version sets escrow_verified_at - the next store clears it",
          "[vault][verify]") {
  FakeVault v;
  CHECK_FALSE(VerifiedAt(v).has_value());
  REQUIRE_FALSE(Verify(v, Alice(), kSecondKey)->matches);
  CHECK_FALSE(VerifiedAt(v).has_value());  // a mismatch sets nothing
  v.clock.Advance(std::chrono::seconds(10));
  REQUIRE(Verify(v, Alice(), kFirstKey)->matches);
  REQUIRE(VerifiedAt(v).has_value());
  CHECK(*VerifiedAt(v) == v.clock.Now());
  SECTION("an unchanged store clears it") {
    Result<StoreKeyResult> same = v.service->StoreKey(Mdm(), "mac-1", K(kFirstKey), nullptr);
    REQUIRE(same.ok());
    CHECK_FALSE(same->created);
    CHECK_FALSE(VerifiedAt(v).has_value());
  }
  SECTION("a new key clears it, and a match on an older version does not set it") {
    REQUIRE(v.service->StoreKey(Mdm(), "mac-1", K(kSecondKey), nullptr)->created);
    CHECK_FALSE(VerifiedAt(v).has_value());
    Result<VerifyResult> old = Verify(v, Mdm(), kFirstKey, 1u);
    REQUIRE(old.ok());
    CHECK(old->matches);
    CHECK(old->version == 1u);
    CHECK_FALSE(VerifiedAt(v).has_value());
    REQUIRE(Verify(v, Mdm(), kSecondKey)->matches);
    CHECK(VerifiedAt(v).has_value());
  }
}

TEST_CASE("Who may verify which version: the owner the current one, the mdm any not destroyed",
          "[vault][verify]") {
  FakeVault v;
  REQUIRE(v.service->StoreKey(Mdm(), "mac-1", K(kSecondKey), nullptr)->created);  // version 2
  // The owner: the current version, by default or by number; nothing older.
  CHECK(Verify(v, Alice(), kSecondKey)->version == 2u);
  CHECK(Verify(v, Alice(), kSecondKey, 2u)->matches);
  CHECK(Verify(v, Alice(), kFirstKey, 1u).status().reason() == "recovery_key_not_found");
  CHECK(Verify(v, Alice(), kFirstKey, 9u).status().reason() == "recovery_key_not_found");
  // The mdm: an older version, not one that does not exist or was destroyed.
  CHECK(Verify(v, Mdm(), kFirstKey, 1u)->matches);
  CHECK(Verify(v, Mdm(), kFirstKey, 9u).status().reason() == "recovery_key_not_found");
  REQUIRE(v.fake_store
              .Write([](storage::WriteTxn& txn) {
                return txn.versions().SetState("mac-1", 1, VersionState::kDestroyed);
              })
              .ok());
  CHECK(Verify(v, Mdm(), kFirstKey, 1u).status().reason() == "recovery_key_not_found");
  // Roles do not verify; strangers do not see the device.
  CHECK(Verify(v, testing::HelpdeskCaller(), kSecondKey).status().reason() == "forbidden");
  CHECK(Verify(v, Caller::User("bob", {}, "portal"), kSecondKey).status().reason() ==
        "device_not_found");
  CHECK(v.service->VerifyKey(Mdm(), "nope", K(kSecondKey), std::nullopt).status().reason() ==
        "device_not_found");
  // A key that breaks the device's format.
  CHECK(Verify(v, Alice(), "not a filevault key").status().reason() == "invalid_recovery_key");
  // After an owner change the new owner has no current version yet: 404, never the old key.
  DeviceSpec spec{"SN-1", "Laptop", Platform::kMacos, Ownership::kCorporate, "bob", true};
  REQUIRE(v.service->PutDevice(Mdm(), "mac-1", spec).ok());
  CHECK(Verify(v, Caller::User("bob", {}, "portal"), kSecondKey).status().reason() ==
        "recovery_key_not_found");
  CHECK(Verify(v, Alice(), kSecondKey).status().reason() == "device_not_found");
}

TEST_CASE("Verify mismatches are counted per device across callers, then 429 with an alert",
          "[vault][verify]") {
  FakeVault v;
  for (int i = 0; i < 5; ++i) {
    const Caller who = i % 2 == 0 ? Alice() : Mdm();
    Result<VerifyResult> r = Verify(v, who, kSecondKey);
    REQUIRE(r.ok());
    CHECK_FALSE(r->matches);
    v.clock.Advance(std::chrono::minutes(1));
  }
  // The sixth attempt, even with the right key, is refused, and says when to come back.
  for (const Caller& who : {Alice(), Mdm()}) {
    Result<VerifyResult> r = Verify(v, who, kFirstKey);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Code::kResourceExhausted);
    CHECK(r.status().reason() == "rate_limited");
    CHECK(r.status().retry_after_seconds() > 0);
    CHECK(r.status().retry_after_seconds() <= 3600 - 5 * 60 + 1);
  }
  std::vector<AuditRecord> records = Records(v);
  const auto alerts = std::count_if(records.begin(), records.end(), [](const AuditRecord& r) {
    return r.event.detail.find("alert: verify mismatches") != std::string::npos;
  });
  CHECK(alerts >= 2);
  CHECK(records.back().event.outcome == "denied");
  CHECK(records.back().event.reason == "rate_limited");
  // Another device is not affected; the window rolls.
  v.clock.Advance(std::chrono::minutes(56));
  Result<VerifyResult> again = Verify(v, Alice(), kFirstKey);
  REQUIRE(again.ok());
  CHECK(again->matches);
}

TEST_CASE("A verify whose state record was edited is an integrity_error", "[vault][verify]") {
  FakeVault v;
  REQUIRE(v.fake_store
              .Write([](storage::WriteTxn& txn) { return txn.devices().SetRotationPending("mac-1", true, 1); })
              .ok());
  Result<VerifyResult> r = Verify(v, Mdm(), kFirstKey);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().reason() == "integrity_error");
}

TEST_CASE("Stores take a key ID, normalised, and record how the key came in",
          "[vault][key_id]") {
  FakeVault v;
  DeviceSpec win{"SN-2", "PC", Platform::kWindows, Ownership::kCorporate, "alice", true};
  REQUIRE(v.service->PutDevice(Mdm(), "win-1", win).ok());
  REQUIRE(v.service->CheckIn(Mdm(), "win-1").ok());
  const std::string bitlocker = "000000-000011-719895-123453-000022-111111-222222-333333";
  StoreKeyExtras extras;
  extras.key_id = "{1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d}";
  SecretBytes key = K(bitlocker);
  REQUIRE(v.service->StoreKey(Alice(), "win-1", key, &key, extras).ok());
  Result<std::vector<VersionInfo>> versions = v.service->ListVersions(Mdm(), "win-1");
  REQUIRE(versions.ok());
  REQUIRE(versions->size() == 1);
  CHECK(versions->at(0).key_id == "1A2B3C4D-5E6F-7A8B-9C0D-1E2F3A4B5C6D");
  CHECK(versions->at(0).source == KeySource::kTyped);
  // The same key under the same ID is unchanged; under another ID it is a new version.
  extras.key_id = "1A2B3C4D-5E6F-7A8B-9C0D-1E2F3A4B5C6D";
  CHECK_FALSE(v.service->StoreKey(Mdm(), "win-1", key, nullptr, extras)->created);
  CHECK_FALSE(v.service->StoreKey(Mdm(), "win-1", key, nullptr)->created);
  extras.key_id = "FFFFFFFF-5E6F-7A8B-9C0D-1E2F3A4B5C6D";
  CHECK(v.service->StoreKey(Mdm(), "win-1", key, nullptr, extras)->created);
  versions = v.service->ListVersions(Mdm(), "win-1");
  REQUIRE(versions->size() == 2);
  CHECK(versions->at(1).source == KeySource::kMdm);
  CHECK(versions->at(1).key_id == "FFFFFFFF-5E6F-7A8B-9C0D-1E2F3A4B5C6D");
  // The mdm's earlier store had none; the CMS route names its own source.
  CHECK_FALSE(v.service->ListVersions(Mdm(), "mac-1")->at(0).key_id.has_value());
  CHECK(v.service->ListVersions(Mdm(), "mac-1")->at(0).source == KeySource::kMdm);
  StoreKeyExtras cms;
  cms.source = KeySource::kCms;
  REQUIRE(v.service->StoreKey(Mdm(), "mac-1", K(kSecondKey), nullptr, cms)->created);
  CHECK(v.service->ListVersions(Mdm(), "mac-1")->back().source == KeySource::kCms);
  // Both still open.
  RoleSet roles;
  roles.Add(Role::kHelpdesk);
  CHECK(v.service->Retrieve(Caller::User("hd", roles, "portal"), "win-1", "ticket", 1u).ok());
}

TEST_CASE("An invalid key ID is invalid_request and changes nothing", "[vault][key_id]") {
  FakeVault v;
  const std::string before = v.Dump();
  for (const char* bad : {"", "has space", "{not-a-guid}", "x/y"}) {
    StoreKeyExtras extras;
    extras.key_id = bad;
    Result<StoreKeyResult> r = v.service->StoreKey(Mdm(), "mac-1", K(kSecondKey), nullptr, extras);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().reason() == "invalid_request");
  }
  // Only the refusals' audit records were added.
  CHECK(v.service->ListVersions(Mdm(), "mac-1")->size() == 1);
  (void)before;
}

TEST_CASE("Devices are found by key ID or its first 8 hex digits - owners find only their own",
          "[vault][key_id]") {
  FakeVault v;
  const std::string bitlocker = "000000-000011-719895-123453-000022-111111-222222-333333";
  for (const char* id : {"win-a", "win-b"}) {
    const std::string owner = std::string(id) == "win-a" ? "alice" : "bob";
    DeviceSpec win{"SN", "PC", Platform::kWindows, Ownership::kCorporate, owner, true};
    REQUIRE(v.service->PutDevice(Mdm(), id, win).ok());
    REQUIRE(v.service->CheckIn(Mdm(), id).ok());
    StoreKeyExtras extras;
    extras.key_id = std::string(id) == "win-a" ? "1A2B3C4D-0000-0000-0000-000000000001"
                                               : "1A2B3C4D-0000-0000-0000-000000000002";
    REQUIRE(v.service->StoreKey(Mdm(), id, K(bitlocker), nullptr, extras).ok());
  }
  RoleSet roles;
  roles.Add(Role::kHelpdesk);
  const Caller hd = Caller::User("hd", roles, "portal");
  auto ids = [](const Result<DevicePage>& r) {
    REQUIRE(r.ok());
    std::vector<std::string> out;
    for (const Device& d : r->devices) out.push_back(d.id);
    return out;
  };
  using V = std::vector<std::string>;
  CHECK(ids(v.service->ListDevices(hd, std::nullopt, std::nullopt, "1a2b3c4d")) ==
        V{"win-a", "win-b"});
  CHECK(ids(v.service->ListDevices(hd, std::nullopt, std::nullopt,
                                   "{1a2b3c4d-0000-0000-0000-000000000002}")) == V{"win-b"});
  CHECK(ids(v.service->ListDevices(hd, std::nullopt, std::nullopt, "deadbeef")).empty());
  CHECK(ids(v.service->ListDevices(Alice(), std::nullopt, std::nullopt, "1A2B3C4D")) ==
        V{"win-a"});
  CHECK(ids(v.service->ListDevices(Alice(), std::nullopt, std::nullopt,
                                   "1A2B3C4D-0000-0000-0000-000000000002"))
            .empty());
  CHECK(v.service->ListDevices(Mdm(), std::nullopt, std::nullopt, "1A2B3C4D").status().reason() ==
        "forbidden");
  CHECK(v.service->ListDevices(hd, std::nullopt, std::nullopt, "1A2B3C4").ok());  // an exact ID
  CHECK(v.service->ListDevices(hd, std::nullopt, std::nullopt, "a b").status().reason() ==
        "invalid_request");
  CHECK(v.service->ListDevices(hd, "alice", std::nullopt, "1A2B3C4D").status().reason() ==
        "invalid_request");
  CHECK(v.service->ListDevices(hd, std::nullopt, "SN", "1A2B3C4D").status().reason() ==
        "invalid_request");
}

TEST_CASE("An owner's key-ID listing pages over own devices only, each page full while more follow",
          "[vault][key_id]") {
  FakeVault v;
  const std::string bitlocker = "000000-000011-719895-123453-000022-111111-222222-333333";
  // Five of alice's devices under one prefix; w2 and w3 then move to bob, keeping the versions
  // recorded under alice.
  for (int i = 1; i <= 5; ++i) {
    const std::string id = "w" + std::to_string(i);
    DeviceSpec win{"SN", "PC", Platform::kWindows, Ownership::kCorporate, "alice", true};
    REQUIRE(v.service->PutDevice(Mdm(), id, win).ok());
    REQUIRE(v.service->CheckIn(Mdm(), id).ok());
    StoreKeyExtras extras;
    extras.key_id = "5A5A5A5A-0000-0000-0000-00000000000" + std::to_string(i);
    REQUIRE(v.service->StoreKey(Mdm(), id, K(bitlocker), nullptr, extras).ok());
  }
  for (const char* id : {"w2", "w3"}) {
    DeviceSpec win{"SN", "PC", Platform::kWindows, Ownership::kCorporate, "bob", true};
    REQUIRE(v.service->PutDevice(Mdm(), id, win).ok());
  }
  using V = std::vector<std::string>;
  std::vector<V> pages;
  std::vector<std::optional<std::string>> next;
  std::optional<std::string> after;
  for (int i = 0; i < 10; ++i) {
    DevicePaging paging;
    if (after) paging.after = *after;
    paging.limit = 2;
    Result<DevicePage> page =
        v.service->ListDevices(Alice(), std::nullopt, std::nullopt, "5a5a5a5a", paging);
    REQUIRE(page.ok());
    V ids;
    for (const Device& d : page->devices) ids.push_back(d.id);
    pages.push_back(ids);
    next.push_back(page->next_after);
    if (!page->next_after) break;
    after = page->next_after;
  }
  CHECK(pages == std::vector<V>{{"w1", "w4"}, {"w5"}});
  CHECK(next == std::vector<std::optional<std::string>>{"w4", std::nullopt});
  // bob finds neither: their versions were recorded under alice.
  Result<DevicePage> bob = v.service->ListDevices(Caller::User("bob", {}, "portal"), std::nullopt,
                                                  std::nullopt, "5A5A5A5A");
  REQUIRE(bob.ok());
  CHECK(bob->devices.empty());
  // A helpdesk pages over all five.
  RoleSet roles;
  roles.Add(Role::kHelpdesk);
  DevicePaging paging;
  paging.limit = 3;
  Result<DevicePage> hd = v.service->ListDevices(Caller::User("hd", roles, "portal"), std::nullopt,
                                                 std::nullopt, "5A5A5A5A", paging);
  REQUIRE(hd.ok());
  REQUIRE(hd->devices.size() == 3);
  CHECK(hd->next_after == "w3");
}

}  // namespace
}  // namespace escrow::vault
