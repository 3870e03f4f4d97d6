#pragma once

#include "storage/access_requests.h"
#include "storage/sqlite_txn_context.h"

namespace escrow::storage {

// The access_requests table (dual control) in one SQLite transaction (private to storage/). A
// read transaction hands it out as an AccessRequestReader only. Not thread-safe: it belongs
// to its transaction.
class SqliteAccessRequests final : public AccessRequestWriter {
 public:
  explicit SqliteAccessRequests(SqliteTxnContext& ctx) : ctx_(ctx) {}

  Result<std::optional<AccessRequestRow>> Get(std::string_view id) override;
  Result<std::vector<AccessRequestRow>> List(std::optional<AccessRequestState> state,
                                             std::optional<std::string_view> requester,
                                             std::int64_t now_ms, std::uint64_t after,
                                             std::size_t limit) override;
  Result<std::uint64_t> Insert(const AccessRequestRow& row) override;
  Result<bool> Decide(std::string_view id, const AccessDecision& decision) override;
  Result<bool> Use(const AccessRequestRow& approved, std::int64_t now_ms) override;

 private:
  SqliteTxnContext& ctx_;
};

}  // namespace escrow::storage
