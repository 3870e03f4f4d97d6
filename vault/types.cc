#include "vault/types.h"

#include "base/bytes.h"
#include "base/utf8.h"

namespace escrow::vault {

std::string_view PlatformName(Platform p) {
  switch (p) {
    case Platform::kMacos: return "macos";
    case Platform::kWindows: return "windows";
    case Platform::kLinux: return "linux";
  }
  return "unknown";
}

std::optional<Platform> ParsePlatform(std::string_view s) {
  if (s == "macos") return Platform::kMacos;
  if (s == "windows") return Platform::kWindows;
  if (s == "linux") return Platform::kLinux;
  return std::nullopt;
}

std::string_view OwnershipName(Ownership o) {
  return o == Ownership::kCorporate ? "corporate" : "personal";
}

std::optional<Ownership> ParseOwnership(std::string_view s) {
  if (s == "corporate") return Ownership::kCorporate;
  if (s == "personal") return Ownership::kPersonal;
  return std::nullopt;
}

void RoleSet::AddByName(std::string_view name) {
  if (name == "helpdesk") Add(Role::kHelpdesk);
  if (name == "admin") Add(Role::kAdmin);
  if (name == "auditor") Add(Role::kAuditor);
}

std::string RoleSet::ToString() const {
  std::string out;
  auto add = [&](Role r, const char* n) {
    if (!Has(r)) return;
    if (!out.empty()) out += ",";
    out += n;
  };
  add(Role::kHelpdesk, "helpdesk");
  add(Role::kAdmin, "admin");
  add(Role::kAuditor, "auditor");
  return out.empty() ? "user" : out;
}

std::string Caller::RoleName() const {
  switch (kind) {
    case Kind::kMdm: return "mdm";
    case Kind::kOperator: return "operator";
    case Kind::kUser: return roles.ToString();
  }
  return "unknown";
}

std::string_view VersionStateName(VersionState s) {
  switch (s) {
    case VersionState::kActive: return "active";
    case VersionState::kSuperseded: return "superseded";
    case VersionState::kDestroyed: return "destroyed";
  }
  return "unknown";
}

bool IsValidDeviceId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

bool IsPlainText(std::string_view s, std::size_t max_bytes) {
  return !s.empty() && s.size() <= max_bytes && IsCleanUtf8(AsBytes(s));
}

}  // namespace escrow::vault
