#include "vault/ops/ceremony_record.h"

#include <pwd.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <filesystem>
#include <utility>
#include <vector>

namespace escrow::ops {
namespace {

// getpwuid_r's buffer stops growing here: a longer entry is not a real account.
constexpr std::size_t kMaxPasswdBuffer = 1 << 20;

}  // namespace

std::string OperatorName() {
  // The audit record's actor must be who really ran the ceremony: the real uid's name from
  // the password database, which the caller cannot set ($USER and utmp it can).
  const uid_t uid = ::getuid();
  const long hint = ::sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buffer(hint > 0 ? static_cast<std::size_t>(hint) : 1024);
  passwd entry{};
  passwd* found = nullptr;
  int rc = 0;
  while ((rc = ::getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &found)) == ERANGE &&
         buffer.size() < kMaxPasswdBuffer) {
    buffer.resize(buffer.size() * 2);
  }
  if (rc == 0 && found != nullptr && found->pw_name != nullptr) {
    std::string name = found->pw_name;
    if (!name.empty()) return name;
  }
  return "uid " + std::to_string(uid);
}

std::string HostName() {
  std::array<char, 256> name{};
  if (::gethostname(name.data(), name.size() - 1) != 0) return "unknown";
  return name.data();
}

Status RecordCeremony(vault::CommitPipeline& audit, std::string_view action, std::string detail,
                      vault::CommitPipeline::Change change, std::string_view outcome,
                      vault::CommitPipeline::Finish finish) {
  vault::AuditEvent event;
  event.actor = OperatorName();
  event.role = "operator";
  event.action = std::string(action);
  event.outcome = std::string(outcome);
  event.detail = std::move(detail);
  Status s = audit.Commit(std::move(change), {std::move(event)}, std::move(finish));
  if (!s.ok()) return s.WithContext("auditing " + std::string(action));
  return s;
}

Result<std::string> SoPinFileFor(const vault::VaultConfig& config, const std::string& given,
                                 std::string_view why) {
  if (!given.empty()) return given;
  if (config.dev) {
    return (std::filesystem::path(config.path).parent_path() / "hsm" / "so.pin").string();
  }
  return Status::InvalidArgument(std::string(why) +
                                 ": give --so-pin-file (hsm/so.pin beside the config is read "
                                 "only for a dev = true state)");
}

std::string RoleName(hsm::KeyRole role) {
  switch (role) {
    case hsm::KeyRole::kMaster:
      return "master";
    case hsm::KeyRole::kAudit:
      return "audit";
    case hsm::KeyRole::kFingerprint:
      return "fingerprint";
    case hsm::KeyRole::kState:
      return "state";
  }
  return "unknown";
}

}  // namespace escrow::ops
