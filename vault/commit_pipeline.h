#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "vault/audit_chain.h"
#include "vault/signed_checkpoint.h"

namespace escrow::hsm {
class KeyService;
}
namespace escrow::storage {
class Store;
class WriteTxn;
}  // namespace escrow::storage

namespace escrow::vault {

// The vault's only database writer: every change goes in with its audit events, and comes
// back only once both are durable. Concurrent commits are grouped into one SQLite transaction
// (each change in its own savepoint), the group's records are linked into the audit chain and
// only the newest is MACed in the HSM: one fsync and one HSM operation per group, however many
// callers wait on it.
//
// Grouping is LevelDB's leader/follower write (DBImpl::Write): callers queue under a mutex;
// the caller at the front is the leader, takes up to batch_max queued commits (its own first),
// writes them itself outside the lock, then wakes each follower with its own Status and hands
// the front to the next waiting caller. No thread of its own, so a request crosses no thread
// to commit. Owned by the escrow service in vaultd; vaultctl's ceremonies use one of their
// own. Thread-safe; Commit() blocks (disk and HSM), so never call it from an I/O thread.
class CommitPipeline {
 public:
  CommitPipeline(hsm::KeyService& keys, storage::Store& store, const Clock& clock,
                 std::uint32_t audit_key_version, CheckpointSink sink, int batch_max = 256);
  CommitPipeline(const CommitPipeline&) = delete;  // one head and one queue per store
  CommitPipeline& operator=(const CommitPipeline&) = delete;
  CommitPipeline(CommitPipeline&&) = delete;
  CommitPipeline& operator=(CommitPipeline&&) = delete;
  // REQUIRES: no Commit() in flight (callers are done with the pipeline before it goes).
  ~CommitPipeline();

  // Loads the chain's head and opens the pipeline. kDataLoss if the newest group's MAC fails
  // (the database was edited or rolled back past the HSM's knowledge). Until it succeeds,
  // Commit() answers kUnavailable.
  Status Start();

  using Change = std::function<Status(storage::WriteTxn&)>;
  // Runs after the commit's events are linked into the chain, with the tip at its last one
  // (its sequence and hash): for a record that must name the audit record of its own change
  // (a device's state record).
  using Finish = std::function<Status(storage::WriteTxn&, const ChainTip& last_event)>;
  // Applies `change` (may be empty), appends `events` and runs `finish` (may be empty; needs
  // at least one event) atomically and durably; returns only once they are on disk. If the
  // change or the finish fails, nothing of it and none of its events are written, the rest of
  // its group is not affected, and its Status is returned. If the transaction or the group's
  // MAC fails, every commit of the group gets kUnavailable.
  // `releases_key`: the commit releases a key, so its group's head must be kept by the
  // release guard (below) before the commit returns OK.
  Status Commit(Change change, std::vector<AuditEvent> events, Finish finish = {},
                bool releases_key = false);

  // Keeps a committed head before a commit that releases a key returns OK: vaultd keeps it on
  // the token (audit_checkpoint.h), so that restoring an older copy of the database is caught
  // at start. Called outside the group's write, one call at a time, with the newest committed
  // head when the call starts: every releasing commit whose group committed by then is covered
  // by that one call (on SoftHSMv2 a checkpoint costs tens of ms, so one per group would
  // serialise the groups behind it). A releasing commit whose group committed later waits for
  // the next call. If a call fails, the releasing commits it was to cover answer kUnavailable
  // (their records are durable; no key leaves). Set before Start().
  using ReleaseGuard = std::function<Status(const AuditHead&)>;
  void SetReleaseGuard(ReleaseGuard guard) { release_guard_ = std::move(guard); }
  Status Append(AuditEvent event) { return Commit({}, {std::move(event)}); }

  // Signs checkpoints (signed_checkpoint.h): once a signing key is recorded, a group's head is
  // signed in the HSM and stored in the group's transaction, at most once a second. vaultd's
  // pipeline does; vaultctl's ceremonies do not. Set before Start().
  void EnableCheckpointSigning(std::chrono::milliseconds recheck = kSigningKeyRecheck) {
    signer_.emplace(keys_, recheck);
  }

  // Commits queued now, the group being written included (for tests and metrics).
  std::size_t queued() const;

  AuditHead head() const { return chain_.head(); }
  std::uint32_t audit_key_version() const { return chain_.audit_key_version(); }
  const AuditChain& chain() const { return chain_; }
  // The chain's Verify (audit_chain.h).
  Result<AuditVerifyReport> Verify(const std::optional<AuditHead>& expected = std::nullopt) {
    return chain_.Verify(expected);
  }

 private:
  struct Writer;
  // Runs one group in one transaction and sets each writer's status; the leader calls it
  // without holding mu_.
  void WriteGroup(std::span<const std::shared_ptr<Writer>> group);
  // Returns once release_guard_ has kept a head at sequence `seq` or newer (see ReleaseGuard),
  // or the failure of the call that was to keep it.
  Status Guard(std::uint64_t seq);
  // The writer's answer: its status, guarded if it releases a key.
  Status Guarded(const Writer& w);

  AuditChain chain_;
  hsm::KeyService& keys_;
  storage::Store& store_;
  const Clock& clock_;
  CheckpointSink sink_;
  ReleaseGuard release_guard_;
  std::optional<CheckpointSigner> signer_;  // used by the leader only, one group at a time
  const std::size_t batch_max_;

  mutable std::mutex mu_;
  std::deque<std::shared_ptr<Writer>> writers_;  // guarded by mu_; the front leads, the rest wait
  bool started_ = false;                         // guarded by mu_

  std::mutex guard_mu_;
  std::condition_variable guard_cv_;  // a guard call finished
  bool guarding_ = false;             // guarded by guard_mu_: a call is running
  std::uint64_t guard_calls_ = 0;     // guarded by guard_mu_: calls finished
  std::uint64_t kept_seq_ = 0;        // guarded by guard_mu_: newest head kept
  std::uint64_t failed_seq_ = 0;      // guarded by guard_mu_: the last call's head, if it failed
  Status failure_;                    // guarded by guard_mu_: and its Status
};

}  // namespace escrow::vault
