#pragma once

#include "storage/devices.h"
#include "storage/sqlite_txn_context.h"

namespace escrow::storage {

// The devices table in one SQLite transaction (private to storage/). A read transaction hands
// it out as a DeviceReader only. Not thread-safe: it belongs to its transaction.
class SqliteDevices final : public DeviceWriter {
 public:
  explicit SqliteDevices(SqliteTxnContext& ctx) : ctx_(ctx) {}

  Result<std::optional<DeviceRow>> Get(std::string_view id) override;
  Result<std::vector<DeviceRow>> ListByOwner(std::string_view owner,
                                             std::optional<std::string_view> after,
                                             std::size_t limit) override;
  Result<std::vector<DeviceRow>> ListBySerial(std::string_view serial,
                                              std::optional<std::string_view> after,
                                              std::size_t limit) override;
  Result<std::vector<DeviceRow>> ListByKeyId(std::string_view key_id, bool prefix,
                                             std::optional<std::string_view> owner,
                                             std::optional<std::string_view> after,
                                             std::size_t limit) override;
  Result<std::vector<DeviceRow>> ListAll(std::size_t limit) override;
  Result<std::vector<DeviceRow>> ListRotationOverdue(std::int64_t since_ms,
                                                     std::optional<std::string_view> after,
                                                     std::size_t limit) override;
  Result<std::int64_t> CountRotationOverdue(std::int64_t since_ms) override;
  Result<std::vector<DeviceRow>> ListOverdueUnnoted(std::int64_t since_ms,
                                                    std::size_t limit) override;
  Status Upsert(const DeviceRow& row) override;
  Status SetRotationPending(std::string_view device_id, bool pending,
                            std::int64_t now_ms) override;
  Status SetCheckin(std::string_view device_id, std::int64_t when_ms) override;
  Status NoteRotationOverdue(std::string_view device_id, std::int64_t requested_ms) override;

 private:
  SqliteTxnContext& ctx_;
};

}  // namespace escrow::storage
