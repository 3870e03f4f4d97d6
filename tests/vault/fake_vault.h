#pragma once

#include <memory>
#include <sstream>
#include <string>

#include <catch2/catch.hpp>

#include "tests/fakes/failing_key_service.h"
#include "tests/fakes/failing_store.h"
#include "tests/fakes/fake_key_service.h"
#include "tests/fakes/fake_store.h"
#include "tests/fakes/manual_clock.h"
#include "vault/commit_pipeline.h"
#include "vault/escrow_service.h"

namespace escrow::testing {

inline constexpr std::string_view kFirstKey = "ABCD-EFGH-IJKL-MNOP-QRST-UVWX";
inline constexpr std::string_view kSecondKey = "WXYZ-2345-6789-ABCD-EFGH-JKLM";

inline vault::Caller HelpdeskCaller() {
  vault::RoleSet roles;
  roles.Add(vault::Role::kHelpdesk);
  return vault::Caller::User("hd", roles, "portal");
}

// A signed-in user (through the portal) holding `roles`.
inline vault::Caller WithRoles(std::string user, std::initializer_list<vault::Role> roles) {
  vault::RoleSet set;
  for (vault::Role r : roles) set.Add(r);
  return vault::Caller::User(std::move(user), set, "portal");
}
inline vault::Caller Approver() { return WithRoles("ap", {vault::Role::kApprover}); }
inline vault::Caller Admin() { return WithRoles("ad", {vault::Role::kAdmin}); }
// The owner of the fixture's "mac-1".
inline vault::Caller Alice() { return vault::Caller::User("alice", {}, "portal"); }

// A vault on the in-memory store and key service, each behind its failing fake. One
// corporate Mac, "mac-1" of alice, with one stored key.
struct FakeVault {
  ManualClock clock;
  FakeStore fake_store;
  FailingStore store{fake_store};
  FakeKeyService fake_keys;
  FailingKeyService keys{fake_keys};
  std::unique_ptr<vault::EscrowService> service;

  explicit FakeVault(vault::EscrowOptions options = {}) {
    REQUIRE(fake_keys.GenerateKey(hsm::KeyRole::kMaster, 1, false).ok());
    REQUIRE(fake_keys.GenerateKey(hsm::KeyRole::kAudit, 1, false).ok());
    REQUIRE(fake_keys.GenerateKey(hsm::KeyRole::kFingerprint, 1, false).ok());
    REQUIRE(fake_keys.GenerateKey(hsm::KeyRole::kState, 1, false).ok());
    REQUIRE(fake_store
                .Write([](storage::WriteTxn& txn) {
                  ESCROW_RETURN_IF_ERROR(txn.meta().Set("active_master_key_version", "1"));
                  ESCROW_RETURN_IF_ERROR(txn.meta().Set("fingerprint_key_version", "1"));
                  ESCROW_RETURN_IF_ERROR(txn.meta().Set("state_key_version", "1"));
                  return txn.meta().Set("audit_key_version", "1");
                })
                .ok());
    Result<std::unique_ptr<vault::EscrowService>> opened =
        vault::EscrowService::Open(keys, store, clock, std::move(options));
    REQUIRE(opened.ok());
    service = std::move(*opened);
    const vault::Caller mdm = vault::Caller::Mdm("mdm");
    vault::DeviceSpec spec{"SN-1",  "Laptop", vault::Platform::kMacos, vault::Ownership::kCorporate,
                           "alice", true};
    REQUIRE(service->PutDevice(mdm, "mac-1", spec).ok());
    REQUIRE(service->CheckIn(mdm, "mac-1").ok());
    REQUIRE(service->StoreKey(mdm, "mac-1", SecretBytes::CopyOf(kFirstKey), nullptr).ok());
  }

  ~FakeVault() { service.reset(); }
  FakeVault(const FakeVault&) = delete;  // the service points into this one
  FakeVault& operator=(const FakeVault&) = delete;
  FakeVault(FakeVault&&) = delete;
  FakeVault& operator=(FakeVault&&) = delete;

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

}  // namespace escrow::testing
