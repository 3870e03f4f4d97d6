#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "storage/connection_pool.h"
#include "storage/database.h"
#include "storage/store.h"

namespace escrow::storage {

// Store on one SQLite file (private to storage/; callers use Store::Open). One writer
// connection behind a mutex runs Write() in BEGIN IMMEDIATE transactions; a pool of
// read-only connections serves reads concurrently (WAL). A writer left broken by an error
// (read-only file, full disk, I/O) is dropped and reopened at the next Write, so writes
// work again once the cause is gone. Thread-safe.
class SqliteStore final : public Store {
 public:
  // As Store::Open. REQUIRES nothing of `options`: it is validated (kInvalidArgument).
  static Result<std::unique_ptr<SqliteStore>> Open(const StoreOptions& options);

  SqliteStore(const SqliteStore&) = delete;  // owns connections
  SqliteStore& operator=(const SqliteStore&) = delete;
  SqliteStore(SqliteStore&&) = delete;
  SqliteStore& operator=(SqliteStore&&) = delete;
  ~SqliteStore() override;

  int schema_version() const override { return schema_version_.load(); }

  Result<std::optional<DeviceRow>> GetDevice(std::string_view id) override;
  Result<std::vector<DeviceRow>> ListDevicesByOwner(std::string_view owner) override;
  Result<std::vector<DeviceRow>> ListDevicesBySerial(std::string_view serial) override;
  Result<std::vector<DeviceRow>> ListAllDevices(std::size_t limit) override;
  Result<std::optional<KeyVersionRow>> GetKeyVersion(std::string_view device_id,
                                                     std::uint32_t version) override;
  Result<std::vector<KeyVersionRow>> ListKeyVersions(std::string_view device_id) override;
  Result<std::optional<KeyVersionRow>> CurrentKeyVersion(const DeviceRow& device) override;
  Result<std::uint32_t> LatestKeyVersionNumber(std::string_view device_id) override;
  Result<std::vector<KeyVersionRow>> ListBurnedKeyVersions(std::string_view device_id) override;
  Result<std::vector<KeyVersionRow>> ListSealedUnder(
      std::uint32_t master_key_version, std::size_t limit,
      const std::optional<KeyVersionKey>& after) override;
  Result<std::vector<std::pair<std::uint32_t, std::int64_t>>> CountByMasterKey() override;
  Result<QuotaWindow> GetQuotaWindow(std::string_view principal, std::int64_t since_ms) override;
  Result<std::optional<std::string>> GetMeta(std::string_view key) override;
  Result<std::vector<AuditRow>> ListAudit(std::uint64_t after, std::size_t limit,
                                          std::optional<std::string_view> device_id) override;
  Result<std::optional<AuditRow>> LastAudit() override;

  Status Write(const std::function<Status(WriteTxn&)>& fn) override;

  Status BackupTo(const std::string& path) override;
  Status IntegrityCheck() override;

  // `PRAGMA <pragma>` on the writer, then on every read connection (waits for each to be
  // free). For tests and diagnostics. REQUIRES: `pragma` is a constant of ours.
  Result<std::vector<std::string>> PragmaOnEveryConnection(std::string_view pragma);
  // Runs `sql` on the writer outside any transaction. Tests use it to provoke errors
  // (e.g. PRAGMA max_page_count for a full disk); nothing else may.
  Status RunOnWriterForTesting(std::string_view sql);

 private:
  explicit SqliteStore(StoreOptions options) : options_(std::move(options)) {}

  Result<std::unique_ptr<Database>> OpenWriter(bool create);  // sets schema_version_
  Result<std::unique_ptr<Database>> OpenReader() const;
  // REQUIRES: write_mu_ held.
  Status WriteLocked(const std::function<Status(WriteTxn&)>& fn);

  const StoreOptions options_;
  std::atomic<int> schema_version_{0};  // set again when the writer is reopened

  std::mutex write_mu_;
  std::unique_ptr<Database> writer_;               // guarded by write_mu_; null until reopened
  std::atomic<std::thread::id> writing_thread_{};  // to refuse a Write inside a Write

  std::unique_ptr<ConnectionPool> readers_;
};

}  // namespace escrow::storage
