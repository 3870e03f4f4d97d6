#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/bytes.h"
#include "base/clock.h"
#include "base/result.h"

namespace escrow::hsm {
class KeyService;
}
namespace escrow::storage {
class Store;
class WriteTxn;
struct AuditRow;
}  // namespace escrow::storage

namespace escrow::vault {

// One audit event, before it gets its sequence number, time and hash.
struct AuditEvent {
  std::string actor;
  std::string role;
  std::string action;
  std::string device_id;
  std::string outcome;  // ok | denied | error
  std::string reason;   // the API error code or the caller's stated reason
  std::string detail;
};

// A committed audit record as the API shows it.
struct AuditRecord {
  std::uint64_t seq = 0;
  TimePoint time;
  AuditEvent event;
  std::string hash;  // lowercase hex
  bool sealed = false;  // carries the group's HSM MAC
};

struct AuditPage {
  std::vector<AuditRecord> records;
  std::optional<std::uint64_t> next_after;
};

struct AuditHead {
  std::uint64_t seq = 0;
  std::string hash;  // lowercase hex; 64 zeros for an empty log
};

struct AuditVerifyReport {
  bool ok = true;
  std::uint64_t records = 0;
  AuditHead head;
  std::optional<std::uint64_t> first_bad;
  std::string problem;  // what failed at first_bad (or about the head)
};

// h_i = SHA-256(h_{i-1} || enc_i), enc_i the record's fields length-prefixed in a fixed order
// starting with its sequence number (DESIGN.md). Exposed for the verifier and tests.
Bytes EncodeAuditRecord(const storage::AuditRow& row);
Bytes ChainHash(std::span<const std::uint8_t> prev_hash, std::span<const std::uint8_t> encoded);
// The MAC input for the last record of a group: a domain tag, its sequence and hash.
Bytes MacInput(std::uint64_t seq, std::span<const std::uint8_t> hash);

// Makes every field clean UTF-8 of a bounded length (EscapeText): whatever a caller passes,
// no record holds invalid UTF-8, a control character or more than a few KiB. Commit() applies
// it to every event.
void SanitizeAuditEvent(AuditEvent& event);

// The API view of a stored row.
AuditRecord ToAuditRecord(const storage::AuditRow& row);

// Called after each committed group with its head, for the checkpoint log line.
using CheckpointSink = std::function<void(const AuditHead&)>;

// The audit chain and the vault's only writer. Commit() hands a change and its audit events
// to one writer thread that groups concurrent commits into one durable SQLite transaction
// (each change in its own savepoint), chains the records in software and MACs only the last
// record of the group in the HSM. Commit() returns after its own group is on disk, so no
// answer is sent before its commit. Thread-safe.
class AuditLog {
 public:
  AuditLog(hsm::KeyService& keys, storage::Store& store, const Clock& clock,
           std::uint32_t audit_key_version, CheckpointSink sink, int batch_max = 256);
  AuditLog(const AuditLog&) = delete;  // owns the writer thread
  AuditLog& operator=(const AuditLog&) = delete;
  AuditLog(AuditLog&&) = delete;  // the writer thread holds its address
  AuditLog& operator=(AuditLog&&) = delete;
  ~AuditLog();  // drains queued commits, then stops the writer

  // Loads the head from the database and starts the writer. kDataLoss if the newest group's
  // MAC fails (the database was edited or rolled back past the HSM's knowledge).
  Status Start();

  using Change = std::function<Status(storage::WriteTxn&)>;
  // Applies `change` (may be empty) and appends `events` atomically and durably. If the change
  // fails, nothing of it and none of its events are written, and its Status is returned. If the
  // transaction or the MAC fails, kUnavailable.
  Status Commit(Change change, std::vector<AuditEvent> events);
  Status Append(AuditEvent event) { return Commit({}, {std::move(event)}); }

  AuditHead head() const;
  std::uint32_t audit_key_version() const { return audit_key_version_; }

  // Walks the whole chain: sequence, hashes and every group MAC (HSM); the newest record must
  // be sealed. With `expected`, a head older than it (truncation or rollback) or a different
  // hash at that sequence fails.
  Result<AuditVerifyReport> Verify(const std::optional<AuditHead>& expected = std::nullopt);

 private:
  struct Job;
  void WriterLoop();
  void RunGroup(std::vector<std::shared_ptr<Job>>& group);

  hsm::KeyService& keys_;
  storage::Store& store_;
  const Clock& clock_;
  const std::uint32_t audit_key_version_;
  CheckpointSink sink_;
  const std::size_t batch_max_;

  mutable std::mutex mu_;
  std::condition_variable work_cv_;  // the writer waits here for jobs (or stopping_)
  std::deque<std::shared_ptr<Job>> queue_;
  bool stopping_ = false;
  std::uint64_t head_seq_ = 0;  // guarded by mu_ for readers; written by the writer thread
  Bytes head_hash_;
  std::thread writer_;
};

}  // namespace escrow::vault
