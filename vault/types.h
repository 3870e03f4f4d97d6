#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/clock.h"

namespace escrow::vault {

// The codes are part of the associated data (DESIGN.md): never renumber.
enum class Platform : std::uint8_t { kMacos = 1, kWindows = 2, kLinux = 3 };
enum class Ownership : std::uint8_t { kCorporate = 1, kPersonal = 2 };

std::string_view PlatformName(Platform p);
std::optional<Platform> ParsePlatform(std::string_view s);
std::string_view OwnershipName(Ownership o);
std::optional<Ownership> ParseOwnership(std::string_view s);

// Roles a signed-in user may hold on top of the owner's rights every user has.
enum class Role : std::uint8_t { kHelpdesk = 1, kAdmin = 2, kAuditor = 4 };

class RoleSet {
 public:
  RoleSet() = default;
  void Add(Role r) { bits_ = static_cast<std::uint8_t>(bits_ | static_cast<std::uint8_t>(r)); }
  bool Has(Role r) const { return (bits_ & static_cast<std::uint8_t>(r)) != 0; }
  bool empty() const { return bits_ == 0; }
  // Adds a known role name; unknown names are ignored (a token may carry other apps' roles).
  void AddByName(std::string_view name);
  // "helpdesk,admin" or "user" when empty.
  std::string ToString() const;

 private:
  std::uint8_t bits_ = 0;
};

// Who is calling, as established by api/ (client certificate, then bearer token).
struct Caller {
  enum class Kind { kUser, kMdm, kOperator };
  Kind kind = Kind::kUser;
  std::string user;    // the owner claim; empty for mdm and operator
  RoleSet roles;       // users only
  std::string client;  // the client certificate's configured name (CN), or "vaultctl"

  static Caller User(std::string user, RoleSet roles, std::string client) {
    return Caller{Kind::kUser, std::move(user), roles, std::move(client)};
  }
  static Caller Mdm(std::string client) { return Caller{Kind::kMdm, {}, {}, std::move(client)}; }
  static Caller Operator(std::string name) {
    return Caller{Kind::kOperator, std::move(name), {}, "vaultctl"};
  }
  // The principal named in audit records and limits: the user, or the client for mdm.
  const std::string& principal() const { return kind == Kind::kMdm ? client : user; }
  std::string RoleName() const;
};

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
  std::optional<TimePoint> last_checkin_at;
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

enum class VersionState { kActive, kSuperseded, kDestroyed };
std::string_view VersionStateName(VersionState s);

struct VersionInfo {
  std::uint32_t version = 0;
  VersionState state = VersionState::kActive;
  TimePoint stored_at;
  std::string stored_by;
};

// 1 to 128 characters of [A-Za-z0-9._-].
bool IsValidDeviceId(std::string_view id);

// 1 to max_bytes bytes of clean UTF-8: no invalid sequence, no control character (names,
// owners, serials, reasons).
bool IsPlainText(std::string_view s, std::size_t max_bytes);

}  // namespace escrow::vault
