#pragma once

#include "storage/store.h"

namespace escrow::storage {

class Database;

// WriteTxn on the writer connection, inside the Transaction that Store::Write opened. An
// error that may have ended SQLite's transaction (busy, full, read-only, I/O, corrupt)
// poisons it: every later call returns that error and Store::Write rolls back even if the
// callback ignored it and returned OK. Row-level errors (kAlreadyExists, kNotFound,
// kInvalidArgument, kFailedPrecondition) leave the transaction usable.
// Not thread-safe: used only by the thread running Store::Write.
class SqliteWriteTxn final : public WriteTxn {
 public:
  explicit SqliteWriteTxn(Database& db) : db_(db) {}

  Status UpsertDevice(const DeviceRow& row) override;
  Status SetRotationPending(std::string_view device_id, bool pending) override;
  Status SetCheckin(std::string_view device_id, std::int64_t when_ms) override;
  Status InsertKeyVersion(const KeyVersionRow& row) override;
  Status SetKeyVersionState(std::string_view device_id, std::uint32_t version,
                            std::string_view state) override;
  Status SetBurned(std::string_view device_id, std::uint32_t version) override;
  Status SupersedeActiveKeyVersions(std::string_view device_id) override;
  Status BurnActiveKeyVersions(std::string_view device_id) override;
  Status ReplaceSealed(std::string_view device_id, std::uint32_t version,
                       std::uint32_t expected_old_master_version, std::uint32_t new_master_version,
                       const Bytes& iv, const Bytes& ciphertext, const Bytes& tag) override;
  Status AppendAudit(const AuditRow& row) override;
  Status SetMeta(std::string_view key, std::string_view value) override;
  Result<std::optional<std::string>> GetMeta(std::string_view key) override;
  Result<std::optional<AuditRow>> LastAudit() override;
  Result<QuotaWindow> AddQuotaEvent(std::string_view principal, std::int64_t at_ms,
                                    std::int64_t since_ms) override;
  Status Isolated(const std::function<Status(WriteTxn&)>& fn) override;

  // OK, or the first error that made the transaction unfit to commit.
  const Status& poison() const { return poison_; }

 private:
  // Records `s` as the poison if it may have ended the transaction; returns `s`.
  Status Track(Status s);
  Status DoAppendAudit(const AuditRow& row);
  Result<QuotaWindow> DoAddQuotaEvent(std::string_view principal, std::int64_t at_ms,
                                      std::int64_t since_ms);

  Database& db_;
  Status poison_;
  int depth_ = 0;  // open savepoints, for their names
};

}  // namespace escrow::storage
