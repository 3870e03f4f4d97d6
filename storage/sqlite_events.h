#pragma once

#include "storage/events.h"
#include "storage/sqlite_txn_context.h"

namespace escrow::storage {

// The events and notifier_cursors tables in one SQLite transaction (private to storage/). A
// read transaction hands it out as an EventReader only. Not thread-safe: it belongs to its
// transaction.
class SqliteEvents final : public EventWriter {
 public:
  explicit SqliteEvents(SqliteTxnContext& ctx) : ctx_(ctx) {}

  Result<std::vector<EventRow>> List(std::uint64_t after, std::size_t limit) override;
  Result<std::optional<std::uint64_t>> Cursor(std::string_view client) override;
  Result<std::optional<std::uint64_t>> OldestCursor() override;
  Status Insert(const EventRow& row) override;
  Result<std::size_t> DeleteBefore(std::int64_t before_ms, std::size_t limit) override;
  Result<bool> AdvanceCursor(std::string_view client, std::uint64_t after) override;

 private:
  SqliteTxnContext& ctx_;
};

}  // namespace escrow::storage
