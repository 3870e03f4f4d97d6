#pragma once

#include "storage/audit_checkpoints.h"
#include "storage/sqlite_txn_context.h"

namespace escrow::storage {

// The audit_checkpoints and audit_signing_keys tables in one SQLite transaction (private to
// storage/). A read transaction hands it out as an AuditCheckpointReader only. Not
// thread-safe: it belongs to its transaction.
class SqliteAuditCheckpoints final : public AuditCheckpointWriter {
 public:
  explicit SqliteAuditCheckpoints(SqliteTxnContext& ctx) : ctx_(ctx) {}

  Result<std::vector<AuditCheckpointRow>> List(std::uint64_t after, std::size_t limit) override;
  Result<std::vector<AuditSigningKeyRow>> SigningKeys() override;
  Status Append(const AuditCheckpointRow& row) override;
  Status AddSigningKey(const AuditSigningKeyRow& row) override;

 private:
  SqliteTxnContext& ctx_;
};

}  // namespace escrow::storage
