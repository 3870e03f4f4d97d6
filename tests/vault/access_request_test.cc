// Dual control on the fakes (API.md, "Dual control (request, approve, retrieve once)"): who
// needs an approval, the request, its decision (never one's own), its single use by the
// release (two racing retrievals release once), expiry, denial, another device or version,
// the listing, and an audit record for every step. The real vaultd's half is
// tests/e2e/access_request_e2e_test.cc.

#include <catch2/catch.hpp>

#include <atomic>
#include <thread>
#include <vector>

#include "tests/vault/fake_vault.h"
#include "vault/approval_mac.h"

namespace escrow::vault {
namespace {

using escrow::testing::FakeVault;
using escrow::testing::HelpdeskCaller;
using escrow::testing::kFirstKey;
using escrow::testing::kSecondKey;
using storage::AccessRequestState;

using escrow::testing::Admin;
using escrow::testing::Alice;
using escrow::testing::Approver;
using escrow::testing::WithRoles;

Caller OtherHelpdesk() { return WithRoles("hd2", {Role::kHelpdesk}); }
Caller Mdm() { return Caller::Mdm("mdm"); }

EscrowOptions Approvals(std::chrono::seconds ttl = std::chrono::seconds(3600)) {
  EscrowOptions o;
  o.approval_roles.Add(Role::kHelpdesk);
  o.approval_ttl = ttl;
  return o;
}

template <class T>
void CheckDenied(const Result<T>& r, Code code, std::string_view reason) {
  INFO(r.status().ToString());
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == code);
  CHECK(r.status().reason() == reason);
}

struct DualVault : FakeVault {
  explicit DualVault(EscrowOptions o = Approvals()) : FakeVault(std::move(o)) {}

  std::string Request(const Caller& who = HelpdeskCaller(),
                      std::optional<std::uint32_t> version = std::nullopt) {
    Result<AccessRequest> r = service->RequestAccess(who, "mac-1", "ticket 42", version);
    INFO(r.status().ToString());
    REQUIRE(r.ok());
    return r->id;
  }
  std::string Approved(const Caller& who = HelpdeskCaller()) {
    const std::string rid = Request(who);
    REQUIRE(service->DecideAccessRequest(Approver(), rid, true, "ok").ok());
    return rid;
  }
  Result<RetrievedKey> Retrieve(std::optional<std::string_view> rid,
                                const Caller& who = HelpdeskCaller(),
                                std::string_view id = "mac-1",
                                std::optional<std::uint32_t> version = std::nullopt) {
    return service->Retrieve(who, id, "ticket 42", version, rid);
  }
  std::string LastAudit() {
    std::string out;
    REQUIRE(fake_store
                .Read([&](storage::ReadTxn& txn) -> Status {
                  ESCROW_ASSIGN_OR_RETURN(std::optional<storage::AuditRow> last,
                                          txn.audit().Last());
                  if (last) {
                    out = last->action + " " + last->outcome + " " + last->reason + " " +
                          last->detail;
                  }
                  return Status::Ok();
                })
                .ok());
    return out;
  }
  AccessRequestState StateOf(const std::string& rid, const Caller& who = Approver()) {
    Result<AccessRequestPage> page = service->ListAccessRequests(who, std::nullopt, 0, 1000);
    REQUIRE(page.ok());
    for (const AccessRequest& r : page->requests) {
      if (r.id == rid) return r.state;
    }
    FAIL("no such request in the listing");
    return AccessRequestState::kPending;
  }
  void AddSecondDevice() {
    const DeviceSpec spec{"SN-2", "Laptop", Platform::kMacos, Ownership::kCorporate, "bob", true};
    REQUIRE(service->PutDevice(Mdm(), "mac-2", spec).ok());
    REQUIRE(service->CheckIn(Mdm(), "mac-2").ok());
    REQUIRE(service->StoreKey(Mdm(), "mac-2", SecretBytes::CopyOf(kSecondKey), nullptr).ok());
  }
};

TEST_CASE("A listed role needs an approved access request, the owner and unlisted roles do not",
          "[vault][access_requests]") {
  DualVault v;
  CheckDenied(v.Retrieve(std::nullopt), Code::kPermissionDenied, "approval_required");
  CHECK(v.LastAudit().rfind("key.retrieve denied approval_required", 0) == 0);
  CHECK(v.Retrieve(std::nullopt, Alice()).ok());  // the recorded owner
  CHECK(v.Retrieve(std::nullopt, Admin()).ok());  // admin is not listed
  FakeVault off;                                  // no roles listed: approvals are off
  CHECK(off.service->Retrieve(HelpdeskCaller(), "mac-1", "ticket", std::nullopt).ok());
}

TEST_CASE("An access request is made as the retrieval it asks for", "[vault][access_requests]") {
  DualVault v;
  const TimePoint now = v.clock.Now();
  Result<AccessRequest> r = v.service->RequestAccess(HelpdeskCaller(), "mac-1", "ticket 42", {});
  REQUIRE(r.ok());
  CHECK(r->id.size() == 32);
  CHECK(r->id.find_first_not_of("0123456789abcdef") == std::string::npos);
  CHECK(r->device_id == "mac-1");
  CHECK(r->requester == "user:hd");
  CHECK(r->reason == "ticket 42");
  CHECK(r->version == 1);
  CHECK(r->state == AccessRequestState::kPending);
  CHECK(r->created_at == now);
  CHECK(r->expires_at == now + std::chrono::seconds(3600));
  CHECK(v.LastAudit().rfind("access_request.create ok ticket 42 access_request=" + r->id, 0) == 0);
  // Two requests never share an id.
  CHECK(v.Request() != r->id);

  CheckDenied(v.service->RequestAccess(HelpdeskCaller(), "nope", "t", {}), Code::kNotFound,
              "device_not_found");
  CheckDenied(v.service->RequestAccess(Approver(), "mac-1", "t", {}), Code::kNotFound,
              "device_not_found");
  CheckDenied(v.service->RequestAccess(Alice(), "mac-1", "t", {}), Code::kPermissionDenied,
              "forbidden");
  CheckDenied(v.service->RequestAccess(HelpdeskCaller(), "mac-1", "", {}),
              Code::kInvalidArgument, "invalid_request");
  CheckDenied(v.service->RequestAccess(HelpdeskCaller(), "mac-1", "t", 7), Code::kNotFound,
              "recovery_key_not_found");
  CHECK(v.LastAudit().rfind("access_request.create denied recovery_key_not_found", 0) == 0);
  // A personal device: as a retrieval, IT support may not.
  const DeviceSpec personal{"SN-3", "Own", Platform::kMacos, Ownership::kPersonal, "carol", true};
  REQUIRE(v.service->PutDevice(Mdm(), "mac-3", personal).ok());
  REQUIRE(v.service->CheckIn(Mdm(), "mac-3").ok());
  REQUIRE(v.service->StoreKey(Mdm(), "mac-3", SecretBytes::CopyOf(kSecondKey), nullptr).ok());
  CheckDenied(v.service->RequestAccess(HelpdeskCaller(), "mac-3", "t", {}),
              Code::kPermissionDenied, "personal_device");
}

TEST_CASE("An access request is refused once the retrieval quota is spent",
          "[vault][access_requests]") {
  EscrowOptions o = Approvals();
  o.daily_quota = 1;
  DualVault v(std::move(o));
  REQUIRE(v.Retrieve(v.Approved()).ok());
  CheckDenied(v.service->RequestAccess(HelpdeskCaller(), "mac-1", "again", {}),
              Code::kResourceExhausted, "rate_limited");
}

TEST_CASE("Approvers and admins decide, never their own request, and only once",
          "[vault][access_requests]") {
  DualVault v;
  const std::string rid = v.Request();
  for (const Caller& c : {HelpdeskCaller(), Alice(), WithRoles("au", {Role::kAuditor})}) {
    CheckDenied(v.service->DecideAccessRequest(c, rid, true, ""), Code::kPermissionDenied,
                "forbidden");
  }
  CheckDenied(v.service->DecideAccessRequest(Approver(), std::string(32, 'f'), true, ""),
              Code::kNotFound, "access_request_not_found");
  // Not an id the vault makes: not looked up, the same answer, audited.
  for (const std::string& bad : {rid.substr(0, 31), rid + "0", std::string(32, 'F'),
                                std::string("' OR 1=1 --")}) {
    CheckDenied(v.service->DecideAccessRequest(Approver(), bad, true, ""), Code::kNotFound,
                "access_request_not_found");
    CHECK(v.LastAudit().rfind("access_request.approve denied access_request_not_found", 0) == 0);
  }
  CheckDenied(v.service->DecideAccessRequest(Approver(), rid, true, "bad\x01note"),
              Code::kInvalidArgument, "invalid_request");
  // An admin's own request: not by that admin.
  const std::string own = v.Request(Admin());
  CheckDenied(v.service->DecideAccessRequest(Admin(), own, true, ""), Code::kPermissionDenied,
              "self_approval");
  CHECK(v.LastAudit().rfind("access_request.approve denied self_approval", 0) == 0);
  // A helpdesk user who is also an approver cannot approve their own either.
  const Caller both = WithRoles("hd", {Role::kHelpdesk, Role::kApprover});
  CheckDenied(v.service->DecideAccessRequest(both, rid, true, ""), Code::kPermissionDenied,
              "self_approval");

  Result<AccessRequest> ok = v.service->DecideAccessRequest(Approver(), rid, true, "call back");
  REQUIRE(ok.ok());
  CHECK(ok->state == AccessRequestState::kApproved);
  CHECK(ok->approver == "user:ap");
  CHECK(ok->decided_at == v.clock.Now());
  CHECK(ok->note == "call back");
  CHECK(v.LastAudit().rfind("access_request.approve ok call back access_request=" + rid, 0) == 0);
  CheckDenied(v.service->DecideAccessRequest(Admin(), rid, false, ""), Code::kFailedPrecondition,
              "access_request_not_usable");
  CHECK(v.LastAudit().rfind("access_request.deny denied access_request_not_usable", 0) == 0);
  CHECK(v.StateOf(rid) == AccessRequestState::kApproved);
}

TEST_CASE("An approved request releases once, in API.md's answer order",
          "[vault][access_requests]") {
  DualVault v;
  const std::string pending = v.Request();
  CheckDenied(v.Retrieve(pending), Code::kFailedPrecondition, "access_request_not_usable");
  const std::string rid = v.Approved();
  // Another helpdesk user's request is not theirs: 403, as if none were named.
  CheckDenied(v.Retrieve(rid, OtherHelpdesk()), Code::kPermissionDenied, "approval_required");
  CheckDenied(v.Retrieve(std::string_view("not-a-request")), Code::kPermissionDenied,
              "approval_required");
  // 400 comes after 403 approval_required, before 409.
  CheckDenied(v.service->Retrieve(HelpdeskCaller(), "mac-1", "", std::nullopt, rid),
              Code::kInvalidArgument, "invalid_request");
  CheckDenied(v.service->Retrieve(HelpdeskCaller(), "mac-1", "", std::nullopt, pending),
              Code::kInvalidArgument, "invalid_request");

  Result<RetrievedKey> key = v.Retrieve(rid);
  REQUIRE(key.ok());
  CHECK(key->version == 1);
  CHECK(v.LastAudit().find("key.retrieve ok ticket 42 version=1 access_request=" + rid) == 0);
  CHECK(v.StateOf(rid) == AccessRequestState::kUsed);
  CheckDenied(v.Retrieve(rid), Code::kFailedPrecondition, "access_request_not_usable");
  CHECK(v.LastAudit().rfind("key.retrieve denied access_request_not_usable", 0) == 0);
}

TEST_CASE("A request is for one device and one version", "[vault][access_requests]") {
  DualVault v;
  v.AddSecondDevice();
  const std::string rid = v.Approved();
  CheckDenied(v.Retrieve(rid, HelpdeskCaller(), "mac-2"), Code::kPermissionDenied,
              "approval_required");
  // A new key makes version 2 current: the request for version 1 does not release it.
  REQUIRE(v.service->StoreKey(Mdm(), "mac-1", SecretBytes::CopyOf(kSecondKey), nullptr).ok());
  CheckDenied(v.Retrieve(rid), Code::kFailedPrecondition, "access_request_not_usable");
  // It still releases version 1, when asked for by number.
  Result<RetrievedKey> older = v.Retrieve(rid, HelpdeskCaller(), "mac-1", 1);
  REQUIRE(older.ok());
  CHECK(older->version == 1);
  // A request may name the version.
  const std::string for_v2 = v.Request(HelpdeskCaller(), 2);
  CHECK(v.StateOf(for_v2) == AccessRequestState::kPending);
}

TEST_CASE("Access requests expire, undecided or unused", "[vault][access_requests]") {
  DualVault v(Approvals(std::chrono::seconds(60)));
  const std::string undecided = v.Request();
  const std::string unused = v.Approved();
  v.clock.Advance(std::chrono::seconds(60));
  CHECK(v.StateOf(undecided) == AccessRequestState::kExpired);
  CHECK(v.StateOf(unused) == AccessRequestState::kExpired);
  CheckDenied(v.service->DecideAccessRequest(Approver(), undecided, true, ""),
              Code::kFailedPrecondition, "access_request_not_usable");
  CHECK(v.LastAudit().find("state=expired") != std::string::npos);
  CheckDenied(v.Retrieve(unused), Code::kFailedPrecondition, "access_request_not_usable");
}

TEST_CASE("A denied request releases nothing", "[vault][access_requests]") {
  DualVault v;
  const std::string rid = v.Request();
  Result<AccessRequest> denied = v.service->DecideAccessRequest(Admin(), rid, false, "no ticket");
  REQUIRE(denied.ok());
  CHECK(denied->state == AccessRequestState::kDenied);
  CHECK(denied->approver == "user:ad");
  CHECK(v.LastAudit().rfind("access_request.deny ok no ticket", 0) == 0);
  CheckDenied(v.Retrieve(rid), Code::kFailedPrecondition, "access_request_not_usable");
  CheckDenied(v.service->DecideAccessRequest(Approver(), rid, true, ""), Code::kFailedPrecondition,
              "access_request_not_usable");
}

TEST_CASE("Approvers and admins list every access request, helpdesk their own, a page at a time",
          "[vault][access_requests]") {
  DualVault v;
  const std::string a = v.Request();
  const std::string b = v.Request(OtherHelpdesk());
  const std::string c = v.Approved();
  Result<AccessRequestPage> all = v.service->ListAccessRequests(Approver(), std::nullopt, 0, 100);
  REQUIRE(all.ok());
  REQUIRE(all->requests.size() == 3);
  CHECK(all->requests[0].id == a);
  CHECK(all->requests[1].id == b);
  CHECK(all->requests[2].id == c);
  CHECK_FALSE(all->next_after.has_value());
  // A page that ends exactly at the last request says there is no next one.
  Result<AccessRequestPage> exact = v.service->ListAccessRequests(Approver(), std::nullopt, 0, 3);
  REQUIRE(exact.ok());
  CHECK(exact->requests.size() == 3);
  CHECK_FALSE(exact->next_after.has_value());
  CHECK(v.LastAudit().rfind("access_request.list ok", 0) == 0);
  CHECK(v.LastAudit().find("returned=3") != std::string::npos);
  Result<AccessRequestPage> first = v.service->ListAccessRequests(Admin(), std::nullopt, 0, 2);
  REQUIRE(first.ok());
  REQUIRE(first->next_after.has_value());
  Result<AccessRequestPage> rest =
      v.service->ListAccessRequests(Admin(), std::nullopt, *first->next_after, 2);
  REQUIRE(rest.ok());
  REQUIRE(rest->requests.size() == 1);
  CHECK(rest->requests[0].id == c);
  Result<AccessRequestPage> pending =
      v.service->ListAccessRequests(Approver(), AccessRequestState::kPending, 0, 100);
  REQUIRE(pending.ok());
  CHECK(pending->requests.size() == 2);
  Result<AccessRequestPage> mine =
      v.service->ListAccessRequests(HelpdeskCaller(), std::nullopt, 0, 100);
  REQUIRE(mine.ok());
  REQUIRE(mine->requests.size() == 2);
  CHECK(mine->requests[0].id == a);
  CHECK(mine->requests[1].id == c);
  for (const Caller& who : {Alice(), WithRoles("au", {Role::kAuditor}), Mdm()}) {
    CheckDenied(v.service->ListAccessRequests(who, std::nullopt, 0, 100), Code::kPermissionDenied,
                "forbidden");
  }
}

TEST_CASE("Two retrievals racing on one approval release the key once",
          "[vault][access_requests]") {
  DualVault v;
  const std::string rid = v.Approved();
  std::atomic<int> released{0};
  std::atomic<int> refused{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i) {
    threads.emplace_back([&] {
      Result<RetrievedKey> r = v.Retrieve(rid);
      if (r.ok()) {
        ++released;
      } else if (r.status().reason() == "access_request_not_usable") {
        ++refused;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(released.load() == 1);
  CHECK(refused.load() == 1);
}

TEST_CASE("A release whose request cannot be marked used fails closed",
          "[vault][access_requests]") {
  DualVault v;
  const std::string rid = v.Approved();
  v.store.FailOn(testing::StoreOp::kAccessRequestWrite, Status::Unavailable("disk gone"));
  Result<RetrievedKey> r = v.Retrieve(rid);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kUnavailable);
  v.store.Heal(testing::StoreOp::kAccessRequestWrite);
  CHECK(v.StateOf(rid) == AccessRequestState::kApproved);
  CHECK(v.Retrieve(rid).ok());
}

TEST_CASE("An approval used by another node between the read and the commit releases nothing",
          "[vault][access_requests]") {
  DualVault v;
  const std::string rid = v.Approved();
  // Another node's release uses the approval after this retrieval read it approved, before
  // its commit: only the conditional update in the commit can catch it.
  v.keys.RunBefore(testing::KeyOp::kDecrypt, [&] {
    REQUIRE(v.fake_store
                .Write([&](storage::WriteTxn& txn) -> Status {
                  ESCROW_ASSIGN_OR_RETURN(std::optional<storage::AccessRequestRow> row,
                                          txn.access_requests().Get(rid));
                  REQUIRE(row.has_value());
                  ESCROW_ASSIGN_OR_RETURN(const bool used,
                                          txn.access_requests().Use(*row, ToUnixMillis(v.clock.Now())));
                  REQUIRE(used);
                  return Status::Ok();
                })
                .ok());
  });
  CheckDenied(v.Retrieve(rid), Code::kFailedPrecondition, "access_request_not_usable");
  CHECK(v.LastAudit().find("used by a racing release") != std::string::npos);
  CHECK(v.keys.calls(testing::KeyOp::kDecrypt) > 0);  // the hook ran: the race was real
  // Nothing of the release was kept: no burned version, no pending rotation.
  const std::string after = v.Dump();
  CHECK(after.find("rotation_pending=0") != std::string::npos);
  CHECK(after.find("burned=1") == std::string::npos);
}

TEST_CASE("An approval the vault did not make is never used", "[vault][access_requests]") {
  DualVault v;
  const std::string genuine = v.Approved();
  std::optional<storage::AccessRequestRow> real;
  REQUIRE(v.fake_store
              .Read([&](storage::ReadTxn& txn) -> Status {
                ESCROW_ASSIGN_OR_RETURN(real, txn.access_requests().Get(genuine));
                return Status::Ok();
              })
              .ok());
  REQUIRE(real.has_value());
  CHECK(CheckApproval(v.keys, *real).ok());
  // A database writer approves a pending request with a made-up MAC, or with the MAC of
  // another approval: neither verifies, nothing is released, the refusal is audited.
  for (const Bytes& mac : {Bytes(32, 0x11), real->approval_mac}) {
    std::string rid = v.Request();
    REQUIRE(v.fake_store
                .Write([&](storage::WriteTxn& txn) -> Status {
                  storage::AccessDecision d{storage::AccessRequestState::kApproved, "user:ap", "",
                                            ToUnixMillis(v.clock.Now()), mac, 1};
                  ESCROW_ASSIGN_OR_RETURN(const bool decided, txn.access_requests().Decide(rid, d));
                  REQUIRE(decided);
                  return Status::Ok();
                })
                .ok());
    CheckDenied(v.Retrieve(rid), Code::kDataLoss, "integrity_error");
    CHECK(v.LastAudit().find("approval: MAC does not verify") != std::string::npos);
    CHECK(v.StateOf(rid) == AccessRequestState::kApproved);
  }
  // The genuine one still releases.
  CHECK(v.Retrieve(genuine).ok());
}

}  // namespace
}  // namespace escrow::vault
