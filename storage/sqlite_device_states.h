#pragma once

#include "storage/device_states.h"
#include "storage/sqlite_txn_context.h"

namespace escrow::storage {

// The device_states table in one SQLite transaction (private to storage/). A read transaction
// hands it out as a DeviceStateReader only. Not thread-safe: it belongs to its transaction.
class SqliteDeviceStates final : public DeviceStateWriter {
 public:
  explicit SqliteDeviceStates(SqliteTxnContext& ctx) : ctx_(ctx) {}

  Result<std::optional<DeviceStateRow>> Get(std::string_view device_id) override;
  Result<std::vector<DeviceStateRow>> List(std::size_t limit,
                                           std::optional<std::string_view> after) override;
  Status Put(const DeviceStateRow& row) override;

 private:
  SqliteTxnContext& ctx_;
};

}  // namespace escrow::storage
