#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/clock.h"
#include "storage/row_enums.h"

namespace escrow::vault {

// One enum per concept: platform, ownership and a key version's state are the rows' own
// (storage/row_enums.h, with their one text mapping), so that a row read from the database
// is already typed and a value the code does not know is kDataLoss there, not a default here.
using storage::KeySource;
using storage::KeySourceName;
using storage::Ownership;
using storage::OwnershipName;
using storage::ParseKeySource;
using storage::ParseOwnership;
using storage::ParsePlatform;
using storage::Platform;
using storage::PlatformName;
using storage::PrincipalKind;
using storage::PrincipalKindName;
using storage::VersionState;
using storage::VersionStateName;

// Roles a signed-in user may hold on top of the owner's rights every user has.
// kApprover decides dual control's access requests (API.md "Dual control").
enum class Role : std::uint8_t { kHelpdesk = 1, kAdmin = 2, kAuditor = 4, kApprover = 8 };

class RoleSet {
 public:
  RoleSet() = default;
  void Add(Role r) { bits_ = static_cast<std::uint8_t>(bits_ | static_cast<std::uint8_t>(r)); }
  bool Has(Role r) const { return (bits_ & static_cast<std::uint8_t>(r)) != 0; }
  bool empty() const { return bits_ == 0; }
  // True if this set and `other` share a role.
  bool Intersects(RoleSet other) const { return (bits_ & other.bits_) != 0; }
  // Adds a known role name; unknown names are ignored (a token may carry other apps' roles).
  void AddByName(std::string_view name);
  // "helpdesk,admin" or "user" when empty.
  std::string ToString() const;

 private:
  std::uint8_t bits_ = 0;
};

// Who is calling, as established by api/ (client certificate, then bearer token). A notifier
// is a client certificate whose [[clients]] role is "notifier" (vault-notify): it may only
// read events.
struct Caller {
  enum class Kind { kUser, kMdm, kOperator, kNotifier };
  Kind kind = Kind::kUser;
  std::string user;    // the owner claim; empty for mdm and operator
  RoleSet roles;       // users only
  std::string client;  // the client certificate's configured name (CN), or "vaultctl"

  static Caller User(std::string user, RoleSet roles, std::string client) {
    return Caller{Kind::kUser, std::move(user), roles, std::move(client)};
  }
  static Caller Mdm(std::string client) { return Caller{Kind::kMdm, {}, {}, std::move(client)}; }
  static Caller Notifier(std::string client) {
    return Caller{Kind::kNotifier, {}, {}, std::move(client)};
  }
  static Caller Operator(std::string name) {
    return Caller{Kind::kOperator, std::move(name), {}, "vaultctl"};
  }
  // The bare name: the user (the owner claim), the client for mdm, the operator. What API.md
  // shows as `stored_by`; never a key or an identity of its own, since a user's owner claim
  // may equal a client's name.
  const std::string& name() const {
    return kind == Kind::kMdm || kind == Kind::kNotifier ? client : user;
  }
  // The name with its kind: "user:alice", "client:mdm" (a notifier too), "operator:root". The audit actor and
  // the key of every limit and quota, so that a user named like a client never shares an
  // audit identity, a limit or a quota with it.
  std::string QualifiedName() const;
  // The kind API.md's stored_by_kind gives beside name(): kClient for mdm, kUser for a user;
  // none for an operator (who stores no key through the service).
  std::optional<PrincipalKind> principal_kind() const;
  std::string RoleName() const;
};

// A client's kind-qualified name ("client:portal"), for audit actors and log lines about a
// client before (or without) a user behind it.
std::string ClientPrincipal(std::string_view client);

// A device as API.md shows it.
struct Device {
  std::string id;
  std::string serial;
  std::string name;
  Platform platform = Platform::kMacos;
  Ownership ownership = Ownership::kCorporate;
  std::string owner;
  bool encryption_enabled = false;
  bool has_recovery_key = false;
  std::optional<std::uint32_t> key_version;
  std::optional<TimePoint> key_stored_at;
  bool rotation_pending = false;
  // When the pending rotation became pending (none while none is), and whether it has been
  // pending longer than [policy] rotation_deadline_seconds (computed when read).
  std::optional<TimePoint> rotation_requested_at;
  bool rotation_overdue = false;
  std::optional<TimePoint> last_checkin_at;
  // When a verify last matched the current version (cleared by the next store).
  std::optional<TimePoint> escrow_verified_at;
};

// The writable fields of PUT /v1/devices/{id}: all required.
struct DeviceSpec {
  std::string serial;
  std::string name;
  Platform platform = Platform::kMacos;
  Ownership ownership = Ownership::kCorporate;
  std::string owner;
  bool encryption_enabled = false;
};

struct VersionInfo {
  std::uint32_t version = 0;
  VersionState state = VersionState::kActive;
  TimePoint stored_at;
  std::string stored_by;                       // the bare name
  std::optional<PrincipalKind> stored_by_kind;  // none for versions stored before migration 7
  std::optional<std::string> key_id;            // normalised; none if stored without one
  std::optional<KeySource> source;              // none for old versions of unknown kind
};

// 1 to 128 characters of [A-Za-z0-9._-].
bool IsValidDeviceId(std::string_view id);

// 1 to max_bytes bytes of clean UTF-8: no invalid sequence, no control character (names,
// owners, serials, reasons).
bool IsPlainText(std::string_view s, std::size_t max_bytes);

}  // namespace escrow::vault
