#include "vault/policy.h"

#include <catch2/catch.hpp>

#include <map>
#include <string>

namespace escrow::vault {
namespace {

RoleSet Roles(std::initializer_list<Role> rs) {
  RoleSet s;
  for (Role r : rs) s.Add(r);
  return s;
}

// The callers of DESIGN.md's table. "stranger" is a signed-in user with no role who does not
// own the device.
std::map<std::string, Caller> Callers() {
  return {
      {"owner", Caller::User("alice", {}, "portal")},
      {"stranger", Caller::User("mallory", {}, "portal")},
      {"helpdesk", Caller::User("hd", Roles({Role::kHelpdesk}), "portal")},
      {"admin", Caller::User("ad", Roles({Role::kAdmin}), "portal")},
      {"auditor", Caller::User("au", Roles({Role::kAuditor}), "portal")},
      {"approver", Caller::User("ap", Roles({Role::kApprover}), "portal")},
      {"mdm", Caller::Mdm("mdm")},
      {"notifier", Caller::Notifier("notify-1")},
  };
}

// Expected outcome per caller: "ok", "403", "404", "personal" (403 personal_device).
struct Row {
  Action action;
  Ownership ownership;
  std::map<std::string, std::string> expect;
  std::map<std::string, bool> reason;  // reason required where allowed
};

std::string Outcome(const Decision& d) {
  if (d.allowed) return "ok";
  if (!d.visible) return "404";
  if (d.denial.reason() == "personal_device") return "personal";
  return "403";
}

TEST_CASE("Every cell of the policy table", "[vault][policy]") {
  const std::vector<Row> rows = {
      {Action::kEnrolDevice, Ownership::kCorporate,
       {{"owner", "403"}, {"stranger", "403"}, {"helpdesk", "403"}, {"admin", "ok"},
        {"auditor", "403"}, {"mdm", "ok"}}, {}},
      {Action::kChangeOwnership, Ownership::kCorporate,
       {{"owner", "403"}, {"stranger", "403"}, {"helpdesk", "403"}, {"admin", "403"},
        {"auditor", "403"}, {"mdm", "ok"}}, {}},
      {Action::kCheckIn, Ownership::kCorporate,
       {{"owner", "403"}, {"stranger", "404"}, {"helpdesk", "403"}, {"admin", "403"},
        {"auditor", "403"}, {"mdm", "ok"}}, {}},
      {Action::kStoreKey, Ownership::kPersonal,
       {{"owner", "ok"}, {"stranger", "404"}, {"helpdesk", "403"}, {"admin", "403"},
        {"auditor", "403"}, {"mdm", "ok"}}, {}},
      {Action::kRetrieveCurrent, Ownership::kCorporate,
       {{"owner", "ok"}, {"stranger", "404"}, {"helpdesk", "ok"}, {"admin", "ok"},
        {"auditor", "403"}, {"mdm", "403"}},
       {{"owner", false}, {"helpdesk", true}, {"admin", true}}},
      {Action::kRetrieveCurrent, Ownership::kPersonal,
       {{"owner", "ok"}, {"stranger", "404"}, {"helpdesk", "personal"}, {"admin", "personal"},
        {"auditor", "403"}, {"mdm", "403"}},
       {{"owner", false}}},
      {Action::kRetrieveOlder, Ownership::kCorporate,
       {{"owner", "403"}, {"stranger", "404"}, {"helpdesk", "ok"}, {"admin", "ok"},
        {"auditor", "403"}, {"mdm", "403"}},
       {{"helpdesk", true}, {"admin", true}}},
      {Action::kRetrieveOlder, Ownership::kPersonal,
       {{"owner", "403"}, {"stranger", "404"}, {"helpdesk", "personal"}, {"admin", "personal"},
        {"auditor", "403"}, {"mdm", "403"}}, {}},
      {Action::kRequestRotation, Ownership::kPersonal,
       {{"owner", "ok"}, {"stranger", "404"}, {"helpdesk", "ok"}, {"admin", "ok"},
        {"auditor", "403"}, {"mdm", "403"}}, {}},
      {Action::kViewDevice, Ownership::kPersonal,
       {{"owner", "ok"}, {"stranger", "404"}, {"helpdesk", "ok"}, {"admin", "ok"},
        {"auditor", "ok"}, {"mdm", "ok"}}, {}},
      {Action::kListOthers, Ownership::kCorporate,
       {{"owner", "403"}, {"stranger", "403"}, {"helpdesk", "ok"}, {"admin", "ok"},
        {"auditor", "ok"}, {"mdm", "403"}}, {}},
      {Action::kReadAudit, Ownership::kCorporate,
       {{"owner", "403"}, {"stranger", "403"}, {"helpdesk", "403"}, {"admin", "ok"},
        {"auditor", "ok"}, {"mdm", "403"}}, {}},
      {Action::kMetrics, Ownership::kCorporate,
       {{"owner", "403"}, {"stranger", "403"}, {"helpdesk", "403"}, {"admin", "ok"},
        {"auditor", "403"}, {"mdm", "ok"}}, {}},
      {Action::kVerifyKey, Ownership::kPersonal,
       {{"owner", "ok"}, {"stranger", "404"}, {"helpdesk", "403"}, {"admin", "403"},
        {"auditor", "403"}, {"mdm", "ok"}}, {{"owner", false}}},
      // DESIGN.md's additions for Apple MDM escrow.
      {Action::kStoreKeyCms, Ownership::kPersonal,
       {{"owner", "403"}, {"stranger", "404"}, {"helpdesk", "403"}, {"admin", "403"},
        {"auditor", "403"}, {"mdm", "ok"}}, {}},
      {Action::kReadEscrowCertificate, Ownership::kCorporate,
       {{"owner", "403"}, {"stranger", "403"}, {"helpdesk", "403"}, {"admin", "ok"},
        {"auditor", "403"}, {"mdm", "ok"}}, {}},
      {Action::kIssueEscrowCertificate, Ownership::kPersonal,
       {{"owner", "403"}, {"stranger", "404"}, {"helpdesk", "403"}, {"admin", "403"},
        {"auditor", "403"}, {"mdm", "ok"}}, {}},
      {Action::kListEscrowCertificates, Ownership::kCorporate,
       {{"owner", "403"}, {"stranger", "403"}, {"helpdesk", "403"}, {"admin", "ok"},
        {"auditor", "ok"}, {"mdm", "403"}}, {}},
      // The current key for RotateFileVaultKey: the mdm, and of a corporate version only.
      {Action::kRotationCommand, Ownership::kCorporate,
       {{"owner", "403"}, {"stranger", "404"}, {"helpdesk", "403"}, {"admin", "403"},
        {"auditor", "403"}, {"mdm", "ok"}}, {{"mdm", false}}},
      {Action::kRotationCommand, Ownership::kPersonal,
       {{"owner", "403"}, {"stranger", "404"}, {"helpdesk", "403"}, {"admin", "403"},
        {"auditor", "403"}, {"mdm", "personal"}}, {}},
      // Who viewed this device's key: the owner and the reading roles, on any device; never
      // the mdm; no reason asked of anyone.
      {Action::kListAccesses, Ownership::kCorporate,
       {{"owner", "ok"}, {"stranger", "404"}, {"helpdesk", "ok"}, {"admin", "ok"},
        {"auditor", "ok"}, {"approver", "404"}, {"mdm", "403"}},
       {{"owner", false}, {"helpdesk", false}, {"admin", false}, {"auditor", false}}},
      {Action::kListAccesses, Ownership::kPersonal,
       {{"owner", "ok"}, {"stranger", "404"}, {"helpdesk", "ok"}, {"admin", "ok"},
        {"auditor", "ok"}, {"approver", "404"}, {"mdm", "403"}},
       {{"owner", false}, {"helpdesk", false}, {"admin", false}, {"auditor", false}}},
      // Dual control: a request is judged as the retrieval it asks for; approvers and admins
      // decide (the approver sees no device: 404 wherever a device is the subject).
      {Action::kRequestAccess, Ownership::kCorporate,
       {{"owner", "403"}, {"stranger", "404"}, {"helpdesk", "ok"}, {"admin", "ok"},
        {"auditor", "403"}, {"approver", "404"}, {"mdm", "403"}},
       {{"helpdesk", true}, {"admin", true}}},
      {Action::kRequestAccess, Ownership::kPersonal,
       {{"owner", "403"}, {"stranger", "404"}, {"helpdesk", "personal"}, {"admin", "personal"},
        {"auditor", "403"}, {"approver", "404"}, {"mdm", "403"}}, {}},
      {Action::kListAccessRequests, Ownership::kCorporate,
       {{"owner", "403"}, {"stranger", "403"}, {"helpdesk", "ok"}, {"admin", "ok"},
        {"auditor", "403"}, {"approver", "ok"}, {"mdm", "403"}}, {}},
      {Action::kApproveAccessRequest, Ownership::kCorporate,
       {{"owner", "403"}, {"stranger", "403"}, {"helpdesk", "403"}, {"admin", "ok"},
        {"auditor", "403"}, {"approver", "ok"}, {"mdm", "403"}}, {}},
      {Action::kDenyAccessRequest, Ownership::kCorporate,
       {{"owner", "403"}, {"stranger", "403"}, {"helpdesk", "403"}, {"admin", "ok"},
        {"auditor", "403"}, {"approver", "ok"}, {"mdm", "403"}}, {}},
      // Events: admin, auditor and the notifier client, on any subject.
      {Action::kReadEvents, Ownership::kCorporate,
       {{"owner", "403"}, {"stranger", "403"}, {"helpdesk", "403"}, {"admin", "ok"},
        {"auditor", "ok"}, {"approver", "403"}, {"mdm", "403"}, {"notifier", "ok"}}, {}},
      {Action::kReadEvents, Ownership::kPersonal,
       {{"owner", "403"}, {"stranger", "403"}, {"helpdesk", "403"}, {"admin", "ok"},
        {"auditor", "ok"}, {"approver", "403"}, {"mdm", "403"}, {"notifier", "ok"}}, {}},
  };
  const auto callers = Callers();
  for (Row row : rows) {
    const Subject device{"alice", row.ownership};
    // The approver role grants nothing in the rows before dual control's: an approver is a
    // stranger there (every such row is checked for it).
    if (!row.expect.contains("approver")) row.expect["approver"] = row.expect.at("stranger");
    // A notifier client may read events and nothing else: a stranger in every other row (it
    // sees no device, so a device's row answers 404 as to one).
    if (!row.expect.contains("notifier")) row.expect["notifier"] = row.expect.at("stranger");
    for (const auto& [who, want] : row.expect) {
      INFO(std::string(ActionName(row.action)) << " by " << who << " on "
                                               << OwnershipName(row.ownership));
      Decision d = Decide(callers.at(who), row.action, &device);
      CHECK(Outcome(d) == want);
      if (d.allowed && row.reason.count(who)) CHECK(d.reason_required == row.reason.at(who));
      if (!d.allowed) CHECK_FALSE(d.denial.ok());
    }
  }
}

TEST_CASE("Roles add to the owner's rights", "[vault][policy]") {
  // An owner who is also helpdesk retrieves their own personal device as the owner.
  Caller both = Caller::User("alice", Roles({Role::kHelpdesk}), "portal");
  const Subject personal{"alice", Ownership::kPersonal};
  Decision d = Decide(both, Action::kRetrieveCurrent, &personal);
  CHECK(d.allowed);
  CHECK_FALSE(d.reason_required);
  CHECK_FALSE(d.via_role);
  // Helpdesk on someone else's corporate device: allowed through the role, quota applies.
  const Subject corporate{"bob", Ownership::kCorporate};
  Decision h = Decide(both, Action::kRetrieveCurrent, &corporate);
  CHECK(h.allowed);
  CHECK(h.reason_required);
  CHECK(h.via_role);
}

TEST_CASE("The owner rule is about the recorded owner, whatever the ownership - roles go by the "
          "recorded ownership (L2)",
          "[vault][policy]") {
  const auto callers = Callers();
  const Caller& owner = callers.at("owner");
  const Caller& helpdesk = callers.at("helpdesk");
  // A version recorded under alice: hers to retrieve whether it was stored as corporate or as
  // personal (the device may have flipped since), without a reason or a quota.
  for (const Ownership stored_as : {Ownership::kCorporate, Ownership::kPersonal}) {
    INFO("stored as " << OwnershipName(stored_as));
    const Subject recorded{"alice", stored_as};
    const Decision d = Decide(owner, Action::kRetrieveCurrent, &recorded);
    CHECK(d.allowed);
    CHECK_FALSE(d.reason_required);
    CHECK_FALSE(d.via_role);
    CHECK(CanSee(owner, recorded));
  }
  // Helpdesk and admin are judged by the recorded ownership: a version stored as personal
  // stays closed to them, whatever the device became; one stored as corporate is open.
  const Subject stored_personal{"alice", Ownership::kPersonal};
  const Subject stored_corporate{"alice", Ownership::kCorporate};
  for (const char* role : {"helpdesk", "admin"}) {
    INFO(role);
    const Caller& c = callers.at(role);
    CHECK(Decide(c, Action::kRetrieveCurrent, &stored_personal).denial.reason() ==
          "personal_device");
    CHECK(Decide(c, Action::kRetrieveOlder, &stored_personal).denial.reason() ==
          "personal_device");
    CHECK(Decide(c, Action::kRetrieveCurrent, &stored_corporate).allowed);
  }
  // A version recorded under a previous owner is invisible to a user who is not that owner
  // (404, listings leave it out); every role and the mdm see it.
  const Subject previous_owner{"bob", Ownership::kCorporate};
  CHECK_FALSE(CanSee(owner, previous_owner));
  CHECK_FALSE(Decide(owner, Action::kRetrieveCurrent, &previous_owner).visible);
  for (const char* who : {"helpdesk", "admin", "auditor", "mdm"}) {
    INFO(who);
    CHECK(CanSee(callers.at(who), previous_owner));
  }
  CHECK(Decide(helpdesk, Action::kRetrieveCurrent, &previous_owner).allowed);
}

TEST_CASE("Callers are named with their kind, so a user named like a client is never taken for "
          "it (L3)",
          "[vault][policy]") {
  const Caller user = Caller::User("mdm", {}, "portal");
  const Caller client = Caller::Mdm("mdm");
  CHECK(user.name() == "mdm");
  CHECK(client.name() == "mdm");
  CHECK(user.QualifiedName() == "user:mdm");
  CHECK(client.QualifiedName() == "client:mdm");
  CHECK(Caller::Operator("root").QualifiedName() == "operator:root");
  CHECK(ClientPrincipal("portal") == "client:portal");
  // A user's owner claim that looks qualified still gets its own prefix.
  CHECK(Caller::User("client:mdm", {}, "portal").QualifiedName() == "user:client:mdm");
}

TEST_CASE("Owner match is byte for byte", "[vault][policy]") {
  const Subject device{"Alice", Ownership::kCorporate};
  CHECK_FALSE(Decide(Caller::User("alice", {}, "p"), Action::kViewDevice, &device).visible);
  const Subject unowned{"", Ownership::kCorporate};
  CHECK_FALSE(Decide(Caller::User("", {}, "p"), Action::kViewDevice, &unowned).allowed);
}

TEST_CASE("Approvers and admins list every access request, helpdesk only their own",
          "[vault][policy]") {
  const auto callers = Callers();
  CHECK(Decide(callers.at("approver"), Action::kListAccessRequests, nullptr).sees_all);
  CHECK(Decide(callers.at("admin"), Action::kListAccessRequests, nullptr).sees_all);
  const Decision hd = Decide(callers.at("helpdesk"), Action::kListAccessRequests, nullptr);
  CHECK(hd.allowed);
  CHECK_FALSE(hd.sees_all);
  RoleSet r;
  r.AddByName("approver");
  CHECK(r.Has(Role::kApprover));
  CHECK(r.ToString() == "approver");
}

TEST_CASE("Unknown role names grant nothing", "[vault][policy]") {
  RoleSet r;
  r.AddByName("superuser");
  r.AddByName("Admin");
  CHECK(r.empty());
  Caller c = Caller::User("x", r, "portal");
  CHECK_FALSE(Decide(c, Action::kReadAudit, nullptr).allowed);
}

TEST_CASE("A notifier client is named as a client, sees no device and reads only events",
          "[vault][policy][events]") {
  const Caller n = Caller::Notifier("notify-1");
  CHECK(n.name() == "notify-1");
  CHECK(n.QualifiedName() == "client:notify-1");
  CHECK(n.RoleName() == "notifier");
  CHECK(n.principal_kind() == PrincipalKind::kClient);
  CHECK_FALSE(CanSee(n, Subject{"alice", Ownership::kCorporate}));
  CHECK(Decide(n, Action::kReadEvents, nullptr).allowed);
  CHECK_FALSE(Decide(n, Action::kReadAudit, nullptr).allowed);
  CHECK_FALSE(Decide(n, Action::kMetrics, nullptr).allowed);
}

}  // namespace
}  // namespace escrow::vault
