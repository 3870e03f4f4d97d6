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
// read-only connections serves Read() concurrently (WAL), one lease and one BEGIN .. COMMIT
// per Read. A writer left broken by an error
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

  Status Read(const std::function<Status(ReadTxn&)>& fn) override;
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
