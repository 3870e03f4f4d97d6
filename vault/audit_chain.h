#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/bytes.h"
#include "base/clock.h"
#include "base/result.h"
#include "vault/events.h"

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
  // A successful operation's event (events.h), written beside the record in its transaction
  // with the record's seq as its id. Not part of the record's bytes (nor of its hash).
  std::optional<EventNote> event;
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

// "SEQ:HASH" with HASH 64 lowercase hex digits: a head as `audit verify` prints it and as
// --expect-head and ?expect_head= take it back. kInvalidArgument otherwise.
Result<AuditHead> ParseAuditHead(std::string_view text);

// Makes every field clean UTF-8 of a bounded length (EscapeText): whatever a caller passes,
// no record holds invalid UTF-8, a control character or more than a few KiB. The commit
// pipeline applies it to every event.
void SanitizeAuditEvent(AuditEvent& event);

// The API view of a stored row.
AuditRecord ToAuditRecord(const storage::AuditRow& row);

// Called after each committed group with its head, for the checkpoint log line.
using CheckpointSink = std::function<void(const AuditHead&)>;

// Where the chain stands: the sequence and hash of its newest record (0 and 32 zero bytes
// for an empty log).
struct ChainTip {
  std::uint64_t seq = 0;
  Bytes hash;
};

// The audit chain itself: how records are linked (hash), sealed (the HSM MAC of a group's
// newest record) and verified, and the head this process last committed. It writes nothing:
// the commit pipeline (commit_pipeline.h) appends the records it links, inside its own
// transaction. Thread-safe (the head is guarded; the rest is pure or read-only).
class AuditChain {
 public:
  AuditChain(hsm::KeyService& keys, storage::Store& store, std::uint32_t audit_key_version);
  AuditChain(const AuditChain&) = delete;  // one head per store and process
  AuditChain& operator=(const AuditChain&) = delete;
  AuditChain(AuditChain&&) = delete;
  AuditChain& operator=(AuditChain&&) = delete;
  ~AuditChain() = default;

  // Loads the head from the database. kDataLoss if the newest record is not sealed or fails
  // its MAC (the database was edited or rolled back past the HSM's knowledge); the HSM's
  // kUnavailable as it is.
  Status LoadHead();

  AuditHead head() const;
  ChainTip tip() const;
  std::uint32_t audit_key_version() const { return audit_key_version_; }

  // Inside a write transaction: where the next record continues the chain. Another process
  // may have appended since this one's last group (vaultctl's ceremony records while vaultd
  // serves); the write lock is held, so the stored head cannot move before the commit, and it
  // is continued once its MAC proves it came from the vault. kDataLoss if the stored log went
  // back behind this process's head, or its newest record is unsealed or fails its MAC.
  Result<ChainTip> TipIn(storage::WriteTxn& txn) const;

  // Turns `event` into the record after `tip` (its sequence, time, key version and hash) and
  // advances `tip` to it.
  storage::AuditRow Link(ChainTip& tip, std::int64_t time_ms, AuditEvent&& event) const;

  // Seals a group: the HSM MAC of its newest record (one HSM operation per group). The HSM's
  // failure is kUnavailable.
  Status Seal(storage::AuditRow& newest) const;

  // After a durable commit: the head moves to `tip`. Returns the new head, or nullopt if
  // nothing was appended.
  std::optional<AuditHead> Advance(const ChainTip& tip);

  // Walks the whole chain: sequence, hashes and every group MAC (HSM); the newest record must
  // be sealed. With `expected`, a head older than it (truncation or rollback) or a different
  // hash at that sequence fails.
  Result<AuditVerifyReport> Verify(const std::optional<AuditHead>& expected = std::nullopt) const;

 private:
  // kDataLoss unless `row` carries a MAC that the HSM accepts (the HSM's kUnavailable as is).
  Status CheckSealed(const storage::AuditRow& row) const;

  hsm::KeyService& keys_;
  storage::Store& store_;
  const std::uint32_t audit_key_version_;

  mutable std::mutex mu_;
  ChainTip head_;  // guarded by mu_
};

}  // namespace escrow::vault
