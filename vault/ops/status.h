#pragma once

// `status`: token, keys, active master key, rotation, records per master key, audit head,
// schema version, last database backup. Reads only; writes nothing.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "hsm/key_service.h"
#include "vault/commit_pipeline.h"
#include "vault/ops/vault_access.h"

namespace escrow::ops {

struct StatusReport {
  hsm::TokenInfo token;
  std::vector<hsm::KeyInfo> keys;
  Result<std::uint32_t> active_master_key_version = Status::NotFound("not read");
  std::optional<std::uint32_t> rotation_target;
  std::map<std::uint32_t, std::int64_t> records_per_version;
  vault::AuditHead head;  // 0 and "empty" hash text for an empty log
  bool audit_empty = true;
  std::uint32_t audit_key_version = 0;
  int schema_version = 0;
  std::string last_backup;  // one line: "never", "unreadable record" or time, path and head
};

// Works on an audit log that is not started. The Status of a read that failed (a malformed or
// missing active master-key version is reported in the result instead: status still shows
// the rest).
Result<StatusReport> DescribeStatus(const Vault& vault);

// The report as vaultctl prints it.
std::string RenderStatus(const StatusReport& report);

}  // namespace escrow::ops
