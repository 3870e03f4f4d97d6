#include "vault/policy.h"

#include <array>

namespace escrow::vault {
namespace {

// The columns of DESIGN.md's policy table, as bits.
enum Actor : std::uint8_t {
  kOwner = 1,
  kHelpdesk = 2,
  kAdmin = 4,
  kAuditor = 8,
  kMdm = 16,
  kApprover = 32,
  kNotifier = 64,  // a notifier client (vault-notify): events, and nothing else
};

struct Rule {
  Action action;
  std::uint8_t allowed;         // who may
  std::uint8_t corporate_only;  // of those, who only on corporate subjects
  std::uint8_t needs_reason;    // of those, who must give a reason
  bool about_device;            // false: no device; visibility does not apply
};

// DESIGN.md "Policy (who may do what)", row by row. Anything not granted here is denied.
constexpr std::array<Rule, 23> kRules{{
    {Action::kEnrolDevice, kAdmin | kMdm, 0, 0, false},
    {Action::kChangeOwnership, kMdm, 0, 0, false},
    {Action::kCheckIn, kMdm, 0, 0, true},
    {Action::kStoreKey, kOwner | kMdm, 0, 0, true},
    {Action::kRetrieveCurrent, kOwner | kHelpdesk | kAdmin, kHelpdesk | kAdmin, kHelpdesk | kAdmin,
     true},
    {Action::kRetrieveOlder, kHelpdesk | kAdmin, kHelpdesk | kAdmin, kHelpdesk | kAdmin, true},
    {Action::kRequestRotation, kOwner | kHelpdesk | kAdmin, 0, 0, true},
    {Action::kViewDevice, kOwner | kHelpdesk | kAdmin | kAuditor | kMdm, 0, 0, true},
    {Action::kListOthers, kHelpdesk | kAdmin | kAuditor, 0, 0, false},
    {Action::kReadAudit, kAdmin | kAuditor, 0, 0, false},
    {Action::kMetrics, kAdmin | kMdm, 0, 0, false},
    // The second release's table: the owner (their current version only, decided by the
    // service) and the mdm.
    {Action::kVerifyKey, kOwner | kMdm, 0, 0, true},
    // API.md, "Apple MDM escrow": certificates are public, but who may ask is still decided
    // (and a device certificate is issued, so recorded).
    {Action::kReadEscrowCertificate, kAdmin | kMdm, 0, 0, false},
    {Action::kIssueEscrowCertificate, kMdm, 0, 0, true},
    {Action::kListEscrowCertificates, kAdmin | kAuditor, 0, 0, false},
    // A store, by the mdm only: a Mac's envelope comes only through its MDM.
    {Action::kStoreKeyCms, kMdm, 0, 0, true},
    // What RotateFileVaultKey needs: the current key, to the mdm, of a corporate version only
    // (macOS, a pending rotation, once, and the switch in the config are the service's).
    {Action::kRotationCommand, kMdm, kMdm, 0, true},
    // Who viewed this device's key: the owner (of the versions recorded under them, decided
    // by the service) and every role that reads; not the mdm.
    {Action::kListAccesses, kOwner | kHelpdesk | kAdmin | kAuditor, 0, 0, true},
    // Dual control (DESIGN.md's additions): a request is judged as the retrieval it asks for
    // (corporate versions only, a reason); approvers and admins decide, never as a device
    // viewer (an approver sees no device), and never their own request (the service's check).
    {Action::kRequestAccess, kHelpdesk | kAdmin, kHelpdesk | kAdmin, kHelpdesk | kAdmin, true},
    {Action::kListAccessRequests, kHelpdesk | kAdmin | kApprover, 0, 0, false},
    {Action::kApproveAccessRequest, kAdmin | kApprover, 0, 0, false},
    {Action::kDenyAccessRequest, kAdmin | kApprover, 0, 0, false},
    // Events (DESIGN.md's additions): metadata only; the notifier client's one right.
    {Action::kReadEvents, kAdmin | kAuditor | kNotifier, 0, 0, false},
}};

const Rule& RuleFor(Action action) {
  for (const Rule& r : kRules) {
    if (r.action == action) return r;
  }
  return kRules[0];  // unreachable: every Action has a row (checked by tests)
}

std::uint8_t ActorsOf(const Caller& caller, const Subject* subject) {
  if (caller.kind == Caller::Kind::kMdm) return kMdm;
  if (caller.kind == Caller::Kind::kNotifier) return kNotifier;
  if (caller.kind != Caller::Kind::kUser) return 0;
  std::uint8_t a = 0;
  if (subject != nullptr && !caller.user.empty() && subject->owner == caller.user) a |= kOwner;
  if (caller.roles.Has(Role::kHelpdesk)) a |= kHelpdesk;
  if (caller.roles.Has(Role::kAdmin)) a |= kAdmin;
  if (caller.roles.Has(Role::kAuditor)) a |= kAuditor;
  if (caller.roles.Has(Role::kApprover)) a |= kApprover;
  return a;
}

constexpr std::uint8_t kSeeing = kOwner | kHelpdesk | kAdmin | kAuditor | kMdm;

}  // namespace

std::string_view ActionName(Action a) {
  switch (a) {
    case Action::kEnrolDevice: return "device.enrol";
    case Action::kChangeOwnership: return "device.change_owner";
    case Action::kCheckIn: return "device.checkin";
    case Action::kStoreKey: return "key.store";
    case Action::kRetrieveCurrent: return "key.retrieve";
    case Action::kRetrieveOlder: return "key.retrieve_older";
    case Action::kRequestRotation: return "key.rotate";
    case Action::kViewDevice: return "device.view";
    case Action::kListOthers: return "device.list";
    case Action::kReadAudit: return "audit.read";
    case Action::kMetrics: return "metrics.read";
    case Action::kVerifyKey:
      return "key.verify";
    case Action::kReadEscrowCertificate: return "escrow_cert.read";
    case Action::kIssueEscrowCertificate: return "escrow_cert.issue_device";
    case Action::kListEscrowCertificates: return "escrow_cert.list";
    case Action::kStoreKeyCms: return "key.store_cms";
    case Action::kRotationCommand: return "key.rotation_command";
    case Action::kListAccesses: return "key.accesses";
    case Action::kRequestAccess: return "access_request.create";
    case Action::kListAccessRequests: return "access_request.list";
    case Action::kApproveAccessRequest: return "access_request.approve";
    case Action::kDenyAccessRequest: return "access_request.deny";
    case Action::kReadEvents: return "events.read";
  }
  return "unknown";
}

bool OnlyReadsEvents(const Caller& caller) { return ActorsOf(caller, nullptr) == kNotifier; }

bool CanSee(const Caller& caller, const Subject& device) {
  return (ActorsOf(caller, &device) & kSeeing) != 0;
}

Decision Decide(const Caller& caller, Action action, const Subject* subject) {
  const Rule& rule = RuleFor(action);
  const std::uint8_t actors = ActorsOf(caller, subject);
  Decision d;
  if (rule.about_device && subject != nullptr && (actors & kSeeing) == 0) {
    d.visible = false;
    d.denial = Status::NotFound("device not visible to caller", "device_not_found");
    return d;
  }
  const std::uint8_t granted = actors & rule.allowed;
  if (granted == 0) {
    d.denial = Status::PermissionDenied("This caller may not do this.", "forbidden");
    return d;
  }
  const bool corporate = subject == nullptr || subject->ownership == Ownership::kCorporate;
  std::uint8_t qualifying = granted;
  if (!corporate) qualifying = static_cast<std::uint8_t>(qualifying & ~rule.corporate_only);
  if (qualifying == 0) {
    d.denial = Status::PermissionDenied(
        "IT support can't view recovery keys of personal devices.", "personal_device");
    return d;
  }
  d.allowed = true;
  // The owner acts as the owner (no reason asked); a role needs a reason where the rule says.
  const bool as_owner_free = (qualifying & kOwner) != 0 && (rule.needs_reason & kOwner) == 0;
  d.reason_required = !as_owner_free && (qualifying & rule.needs_reason) != 0;
  d.via_role = (qualifying & kOwner) == 0 && (qualifying & (kHelpdesk | kAdmin)) != 0;
  d.sees_all = (qualifying & (kAdmin | kApprover)) != 0;
  return d;
}

}  // namespace escrow::vault
