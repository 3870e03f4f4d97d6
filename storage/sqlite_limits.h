#pragma once

#include "storage/limits.h"
#include "storage/sqlite_txn_context.h"

namespace escrow::storage {

// The quota_events table in one SQLite transaction (private to storage/). A read transaction
// hands it out as a LimitReader only. Not thread-safe: it belongs to its transaction.
class SqliteLimits final : public LimitWriter {
 public:
  explicit SqliteLimits(SqliteTxnContext& ctx) : ctx_(ctx) {}

  Result<QuotaWindow> GetQuotaWindow(std::string_view principal, std::int64_t since_ms) override;
  Result<QuotaWindow> AddQuotaEvent(std::string_view principal, std::int64_t at_ms,
                                    std::int64_t since_ms) override;

 private:
  SqliteTxnContext& ctx_;
};

}  // namespace escrow::storage
