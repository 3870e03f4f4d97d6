#include "vault/types.h"

#include "base/bytes.h"
#include "base/id_chars.h"
#include "base/utf8.h"

namespace escrow::vault {

void RoleSet::AddByName(std::string_view name) {
  if (name == "helpdesk") Add(Role::kHelpdesk);
  if (name == "admin") Add(Role::kAdmin);
  if (name == "auditor") Add(Role::kAuditor);
  if (name == "approver") Add(Role::kApprover);
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
  add(Role::kApprover, "approver");
  return out.empty() ? "user" : out;
}

std::string ClientPrincipal(std::string_view client) { return "client:" + std::string(client); }

std::string Caller::QualifiedName() const {
  switch (kind) {
    case Kind::kUser: return "user:" + user;
    case Kind::kMdm:
    case Kind::kNotifier: return ClientPrincipal(client);
    case Kind::kOperator: return "operator:" + user;
  }
  return "unknown:" + name();
}

std::optional<PrincipalKind> Caller::principal_kind() const {
  switch (kind) {
    case Kind::kUser: return PrincipalKind::kUser;
    case Kind::kMdm:
    case Kind::kNotifier: return PrincipalKind::kClient;
    case Kind::kOperator: return std::nullopt;
  }
  return std::nullopt;
}

std::string Caller::RoleName() const {
  switch (kind) {
    case Kind::kMdm: return "mdm";
    case Kind::kNotifier: return "notifier";
    case Kind::kOperator: return "operator";
    case Kind::kUser: return roles.ToString();
  }
  return "unknown";
}

bool IsValidDeviceId(std::string_view id) {
  return !id.empty() && id.size() <= 128 && AllIdChars(id);
}

bool IsPlainText(std::string_view s, std::size_t max_bytes) {
  return !s.empty() && s.size() <= max_bytes && IsCleanUtf8(AsBytes(s));
}

}  // namespace escrow::vault
