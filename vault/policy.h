#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"
#include "vault/types.h"

namespace escrow::vault {

// Every action of DESIGN.md's policy table.
enum class Action : std::uint8_t {
  kEnrolDevice,      // create, or change name, serial, platform, encryption_enabled
  kChangeOwnership,  // change owner or ownership
  kCheckIn,
  kStoreKey,
  kRetrieveCurrent,
  kRetrieveOlder,
  kRequestRotation,
  kViewDevice,  // device status and versions (never key material)
  kListOthers,  // list devices by another owner or by serial
  kReadAudit,
  kMetrics,
  kVerifyKey,  // compare a typed key with the escrowed one (never a release)
  kReadEscrowCertificate,   // the current fleet escrow certificate (Apple MDM)
  kIssueEscrowCertificate,  // a device's own escrow certificate, issued on first request
  kListEscrowCertificates,  // every fleet escrow certificate with its state
  kStoreKeyCms,             // store a key from a CMS envelope opened in the HSM (Apple MDM)
  kRotationCommand,         // the current key for RotateFileVaultKey, to the mdm (a release)
  kListAccesses,            // who viewed a device's key: its releases, from the audit trail
  // Dual control (API.md): a request to view a key, the listing, and its decisions.
  kRequestAccess,
  kListAccessRequests,  // approver and admin: all; helpdesk: their own (the service filters)
  kApproveAccessRequest,
  kDenyAccessRequest,
  kReadEvents,  // GET /v1/events (admin, auditor, notifier clients)
};

std::string_view ActionName(Action a);

// What a decision about a device looks at: for key releases and version listings, the owner
// and ownership the version was stored with; otherwise the device's present ones. Absent for
// actions that are not about one device.
struct Subject {
  std::string_view owner;
  Ownership ownership = Ownership::kCorporate;
};

struct Decision {
  bool allowed = false;
  bool visible = true;          // false: answer 404 device_not_found (ids don't leak)
  bool reason_required = false; // allowed through a role (not as the owner)
  bool via_role = false;        // allowed as helpdesk/admin (daily quota applies to retrievals)
  bool sees_all = false;        // kListAccessRequests: as approver or admin (not only one's own)
  Status denial;                // the error to answer when !allowed
};

// The policy table as data, and one decision every operation goes through. Pure and
// thread-safe. Fails closed: anything not granted by a row is denied.
Decision Decide(const Caller& caller, Action action, const Subject* subject);

// May the caller see this device at all (owner, helpdesk, admin, auditor, mdm)?
bool CanSee(const Caller& caller, const Subject& device);

// True for a caller whose only right is kReadEvents (a notifier client): api/ answers it 403
// forbidden on every other route before reading anything, so that it learns nothing of
// devices (not even which exist) or of what a body must hold.
bool OnlyReadsEvents(const Caller& caller);

}  // namespace escrow::vault
