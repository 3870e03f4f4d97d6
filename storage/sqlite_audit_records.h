#pragma once

#include "storage/audit_records.h"
#include "storage/sqlite_txn_context.h"

namespace escrow::storage {

// The audit table in one SQLite transaction (private to storage/). A read transaction hands
// it out as an AuditReader only. Not thread-safe: it belongs to its transaction.
class SqliteAuditRecords final : public AuditWriter {
 public:
  explicit SqliteAuditRecords(SqliteTxnContext& ctx) : ctx_(ctx) {}

  Result<std::vector<AuditRow>> List(std::uint64_t after, std::size_t limit,
                                     std::optional<std::string_view> device_id) override;
  Result<std::optional<AuditRow>> Last() override;
  Result<std::optional<AuditRow>> Get(std::uint64_t seq) override;
  Result<std::optional<std::uint64_t>> NewestStateChange(std::string_view device_id) override;
  Result<std::vector<AuditRow>> ListReleases(std::string_view device_id,
                                             std::optional<std::uint64_t> before,
                                             std::size_t limit) override;
  Status Append(const AuditRow& row) override;

 private:
  SqliteTxnContext& ctx_;
};

}  // namespace escrow::storage
