// FakeAuditCheckpoints (tests/fakes/fake_tables.h): the audit_checkpoints and
// audit_signing_keys tables in memory, with the Status order SQLite gives (CHECK, then the
// primary key, then the foreign keys).
#include <vector>

#include "tests/fakes/fake_tables.h"

namespace escrow::testing {

Result<std::vector<storage::AuditCheckpointRow>> FakeAuditCheckpoints::List(std::uint64_t after,
                                                                            std::size_t limit) {
  std::vector<storage::AuditCheckpointRow> rows;
  for (auto it = state_.audit_checkpoints.upper_bound(after);
       it != state_.audit_checkpoints.end() && rows.size() < limit; ++it) {
    rows.push_back(it->second);
  }
  return rows;
}

Result<std::vector<storage::AuditSigningKeyRow>> FakeAuditCheckpoints::SigningKeys() {
  std::vector<storage::AuditSigningKeyRow> rows;
  for (const auto& [version, row] : state_.audit_signing_keys) rows.push_back(row);
  return rows;
}

Status FakeAuditCheckpoints::Append(const storage::AuditCheckpointRow& row) {
  if (row.seq == 0 || row.hash.size() != 32 || row.key_version == 0 || row.signature.empty()) {
    return Status::InvalidArgument("append audit checkpoint: check");
  }
  if (state_.audit_checkpoints.contains(row.seq)) {
    return Status::AlreadyExists("append audit checkpoint: unique");
  }
  if (!state_.audit.contains(row.seq) || !state_.audit_signing_keys.contains(row.key_version)) {
    return Status::FailedPrecondition("append audit checkpoint: foreign key");
  }
  state_.audit_checkpoints[row.seq] = row;
  return Status::Ok();
}

Status FakeAuditCheckpoints::AddSigningKey(const storage::AuditSigningKeyRow& row) {
  if (row.version == 0 || row.public_key.empty()) {
    return Status::InvalidArgument("add audit signing key: check");
  }
  if (state_.audit_signing_keys.contains(row.version)) {
    return Status::AlreadyExists("add audit signing key: unique");
  }
  state_.audit_signing_keys[row.version] = row;
  return Status::Ok();
}

}  // namespace escrow::testing
