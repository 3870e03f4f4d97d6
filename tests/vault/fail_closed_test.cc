// Fail-closed audit proven with the fakes (STYLE §7): when the audit record cannot be
// written, or its group MAC cannot be made, a store and a retrieval through the escrow
// service return an error, release no plaintext and leave no partial change.

#include <memory>
#include <sstream>
#include <string>

#include <catch2/catch.hpp>

#include "tests/fakes/failing_key_service.h"
#include "tests/fakes/failing_store.h"
#include "tests/fakes/fake_key_service.h"
#include "tests/fakes/fake_store.h"
#include "tests/fakes/manual_clock.h"
#include "vault/audit_log.h"
#include "vault/escrow_service.h"

namespace escrow::testing {
namespace {

constexpr std::string_view kFirstKey = "ABCD-EFGH-IJKL-MNOP-QRST-UVWX";
constexpr std::string_view kSecondKey = "WXYZ-2345-6789-ABCD-EFGH-JKLM";

vault::Caller HelpdeskCaller() {
  vault::RoleSet roles;
  roles.Add(vault::Role::kHelpdesk);
  return vault::Caller::User("hd", roles, "portal");
}

// A vault on the in-memory store and key service, each behind its failing fake. One
// corporate Mac, "mac-1" of alice, with one stored key.
struct FakeVault {
  ManualClock clock;
  FakeStore fake_store;
  FailingStore store{fake_store};
  FakeKeyService fake_keys;
  FailingKeyService keys{fake_keys};
  std::unique_ptr<vault::AuditLog> audit;
  std::unique_ptr<vault::EscrowService> service;

  FakeVault() {
    REQUIRE(fake_keys.GenerateKey(hsm::KeyRole::kMaster, 1, false).ok());
    REQUIRE(fake_keys.GenerateKey(hsm::KeyRole::kAudit, 1, false).ok());
    REQUIRE(fake_store
                .Write([](storage::WriteTxn& txn) {
                  ESCROW_RETURN_IF_ERROR(txn.meta().Set("active_master_key_version", "1"));
                  return txn.meta().Set("audit_key_version", "1");
                })
                .ok());
    audit =
        std::make_unique<vault::AuditLog>(keys, store, clock, 1, [](const vault::AuditHead&) {});
    REQUIRE(audit->Start().ok());
    service =
        std::make_unique<vault::EscrowService>(keys, store, *audit, clock, vault::EscrowOptions{});
    const vault::Caller mdm = vault::Caller::Mdm("mdm");
    vault::DeviceSpec spec{"SN-1",  "Laptop", vault::Platform::kMacos, vault::Ownership::kCorporate,
                           "alice", true};
    REQUIRE(service->PutDevice(mdm, "mac-1", spec).ok());
    REQUIRE(service->CheckIn(mdm, "mac-1").ok());
    REQUIRE(service->StoreKey(mdm, "mac-1", SecretBytes::CopyOf(kFirstKey), nullptr).ok());
  }

  ~FakeVault() {
    service.reset();
    audit.reset();
  }
  FakeVault(const FakeVault&) = delete;  // the service points into this one
  FakeVault& operator=(const FakeVault&) = delete;

  // Everything the store holds about the device, its keys, the audit head and the quota, as
  // text: two dumps are equal when nothing was changed.
  std::string Dump() {
    std::ostringstream out;
    Status s = fake_store.Read([&](storage::ReadTxn& txn) -> Status {
      ESCROW_ASSIGN_OR_RETURN(std::optional<storage::DeviceRow> d, txn.devices().Get("mac-1"));
      REQUIRE(d.has_value());
      out << "device rotation_pending=" << d->rotation_pending
          << " checkin=" << d->last_checkin_ms.value_or(0) << " updated=" << d->updated_ms << "\n";
      ESCROW_ASSIGN_OR_RETURN(std::vector<storage::KeyVersionRow> versions,
                              txn.versions().List("mac-1"));
      for (const auto& v : versions) {
        out << "version " << v.version << " state=" << storage::VersionStateName(v.state)
            << " burned=" << v.burned << " mkv=" << v.master_key_version << "\n";
      }
      ESCROW_ASSIGN_OR_RETURN(std::optional<storage::AuditRow> last, txn.audit().Last());
      out << "audit head=" << (last ? last->seq : 0) << "\n";
      ESCROW_ASSIGN_OR_RETURN(storage::QuotaWindow quota, txn.limits().GetQuotaWindow("hd", 0));
      out << "quota events=" << quota.count << "\n";
      return Status::Ok();
    });
    REQUIRE(s.ok());
    return out.str();
  }
};

// The ways the audit record of a release or a store can fail to be committed.
enum class AuditFault { kAppend, kMac };

void Inject(FakeVault& v, AuditFault fault) {
  if (fault == AuditFault::kAppend) {
    v.store.FailOn(StoreOp::kAuditAppend, Status::Unavailable("disk I/O error"));
  } else {
    v.keys.FailOn(KeyOp::kSign, Status::Unavailable("C_Sign: CKR_DEVICE_ERROR"));
  }
}

TEST_CASE("A retrieval releases no key and changes nothing when its audit record fails",
          "[vault][fail_closed]") {
  const AuditFault fault = GENERATE(AuditFault::kAppend, AuditFault::kMac);
  FakeVault v;
  const std::string before = v.Dump();
  Inject(v, fault);

  SECTION("the owner's retrieval") {
    Result<vault::RetrievedKey> key =
        v.service->Retrieve(vault::Caller::User("alice", {}, "portal"), "mac-1", "", std::nullopt);
    REQUIRE_FALSE(key.ok());
    CHECK(key.status().code() == Code::kUnavailable);
  }
  SECTION("helpdesk's retrieval, counted against a quota") {
    Result<vault::RetrievedKey> key =
        v.service->Retrieve(HelpdeskCaller(), "mac-1", "user locked out", std::nullopt);
    REQUIRE_FALSE(key.ok());
    CHECK(key.status().code() == Code::kUnavailable);
  }
  // Not burned, no rotation asked, no quota spent, no record.
  CHECK(v.Dump() == before);
  if (fault == AuditFault::kAppend) CHECK(v.store.calls(StoreOp::kAuditAppend) > 0);
  if (fault == AuditFault::kMac) CHECK(v.keys.calls(KeyOp::kSign) > 0);

  // Healed, the same retrieval releases the key: the failure was the audit's alone.
  v.store.Heal(StoreOp::kAuditAppend);
  v.keys.Heal(KeyOp::kSign);
  Result<vault::RetrievedKey> key =
      v.service->Retrieve(vault::Caller::User("alice", {}, "portal"), "mac-1", "", std::nullopt);
  REQUIRE(key.ok());
  CHECK(key->recovery_key.RevealSecretText() == "ABCD-EFGH-IJKL-MNOP-QRST-UVWX");
  CHECK(v.Dump() != before);
}

TEST_CASE("A store writes no key version and changes nothing when its audit record fails",
          "[vault][fail_closed]") {
  const AuditFault fault = GENERATE(AuditFault::kAppend, AuditFault::kMac);
  FakeVault v;
  const std::string before = v.Dump();
  Inject(v, fault);
  Result<vault::StoreKeyResult> stored = v.service->StoreKey(
      vault::Caller::Mdm("mdm"), "mac-1", SecretBytes::CopyOf(kSecondKey), nullptr);
  REQUIRE_FALSE(stored.ok());
  CHECK(stored.status().code() == Code::kUnavailable);
  CHECK(v.Dump() == before);  // no version 2, version 1 still active

  v.store.Heal(StoreOp::kAuditAppend);
  v.keys.Heal(KeyOp::kSign);
  stored = v.service->StoreKey(vault::Caller::Mdm("mdm"), "mac-1", SecretBytes::CopyOf(kSecondKey),
                               nullptr);
  REQUIRE(stored.ok());
  CHECK(stored->version == 2u);
}

TEST_CASE("A retrieval whose decrypt meets a lost HSM releases nothing and burns nothing",
          "[vault][fail_closed]") {
  FakeVault v;
  const std::string before = v.Dump();
  v.keys.FailOn(KeyOp::kDecrypt, Status::Unavailable("C_Decrypt: CKR_DEVICE_REMOVED"));
  Result<vault::RetrievedKey> key =
      v.service->Retrieve(HelpdeskCaller(), "mac-1", "user locked out", std::nullopt);
  REQUIRE_FALSE(key.ok());
  CHECK(key.status().code() == Code::kUnavailable);
  // Only the refusal's own audit record was added.
  const std::string after = v.Dump();
  CHECK(after.substr(0, after.find("audit head")) == before.substr(0, before.find("audit head")));
  CHECK(after.substr(after.find("quota")) == before.substr(before.find("quota")));
}

TEST_CASE("A read the store cannot serve fails the request before any release",
          "[vault][fail_closed]") {
  FakeVault v;
  const std::string before = v.Dump();
  v.store.FailOn(StoreOp::kVersionCurrent, Status::Unavailable("database is locked"));
  Result<vault::RetrievedKey> key =
      v.service->Retrieve(vault::Caller::User("alice", {}, "portal"), "mac-1", "", std::nullopt);
  REQUIRE_FALSE(key.ok());
  CHECK(key.status().code() == Code::kUnavailable);
  CHECK(v.keys.calls(KeyOp::kDecrypt) == 0);
  CHECK(v.Dump() == before);
}

}  // namespace
}  // namespace escrow::testing
