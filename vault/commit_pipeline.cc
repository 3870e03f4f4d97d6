#include "vault/commit_pipeline.h"

#include <algorithm>
#include <optional>

#include "base/check.h"
#include "storage/store.h"

namespace escrow::vault {

// One caller's commit, queued until a leader has written it.
struct CommitPipeline::Writer {
  Writer(Change c, std::vector<AuditEvent> e, Finish f, bool r)
      : change(std::move(c)), events(std::move(e)), finish(std::move(f)), releases_key(r) {}

  Change change;
  std::vector<AuditEvent> events;
  Finish finish;
  bool releases_key = false;
  Status status;               // set by the leader that wrote it
  std::optional<std::uint64_t> head_seq;  // set by the leader: its group's committed head
  bool done = false;           // guarded by mu_
  std::condition_variable cv;  // this caller waits here alone: a group wakes only its own
};

CommitPipeline::CommitPipeline(hsm::KeyService& keys, storage::Store& store, const Clock& clock,
                               std::uint32_t audit_key_version, CheckpointSink sink, int batch_max)
    : chain_(keys, store, audit_key_version),
      keys_(keys),
      store_(store),
      clock_(clock),
      sink_(std::move(sink)),
      batch_max_(static_cast<std::size_t>(batch_max > 0 ? batch_max : 1)) {}

CommitPipeline::~CommitPipeline() {
  std::lock_guard lock(mu_);
  // A caller still queued would wake on a destroyed mutex.
  ESCROW_CHECK(writers_.empty());
  started_ = false;
}

Status CommitPipeline::Start() {
  ESCROW_RETURN_IF_ERROR(chain_.LoadHead());
  std::lock_guard lock(mu_);
  started_ = true;
  return Status::Ok();
}

std::size_t CommitPipeline::queued() const {
  std::lock_guard lock(mu_);
  return writers_.size();
}

Status CommitPipeline::Commit(Change change, std::vector<AuditEvent> events, Finish finish,
                              bool releases_key) {
  if (finish && events.empty()) return Status::Internal("a commit's finish needs an event");
  for (AuditEvent& e : events) SanitizeAuditEvent(e);
  // Shared with the leader that writes it, so that the leader can wake it after releasing
  // the lock (a follower woken under the lock would wake only to wait for the lock) without
  // the follower returning and destroying its condition variable first.
  auto self = std::make_shared<Writer>(std::move(change), std::move(events), std::move(finish),
                                       releases_key);
  std::unique_lock lock(mu_);
  if (!started_) return Status::Unavailable("audit log is not running");
  writers_.push_back(self);
  // A leader ahead of us may take our commit into its group (then `done`), or finish its
  // group without it and hand us the front.
  self->cv.wait(lock, [&] { return self->done || writers_.front() == self; });
  if (self->done) {
    lock.unlock();
    return Guarded(*self);
  }

  // The leader: the queue's first batch_max commits, ours first, written without the lock so
  // that later callers queue behind this group (and one of them leads the next).
  const auto n = static_cast<std::ptrdiff_t>(std::min(writers_.size(), batch_max_));
  const std::vector<std::shared_ptr<Writer>> group(writers_.begin(), writers_.begin() + n);
  lock.unlock();
  WriteGroup(group);
  lock.lock();
  for (const std::shared_ptr<Writer>& w : group) {
    w->done = true;
    writers_.pop_front();
  }
  const std::shared_ptr<Writer> next = writers_.empty() ? nullptr : writers_.front();
  lock.unlock();
  for (const std::shared_ptr<Writer>& w : group) {
    if (w != self) w->cv.notify_one();
  }
  if (next) next->cv.notify_one();  // the next group's leader
  return Guarded(*self);
}

Status CommitPipeline::Guarded(const Writer& w) {
  if (!w.releases_key || !w.status.ok() || !release_guard_) return w.status;
  // Fail closed: a release is never answered without a head to keep.
  if (!w.head_seq) return Status::Internal("a releasing commit without a committed head");
  return Guard(*w.head_seq);
}

Status CommitPipeline::Guard(std::uint64_t seq) {
  std::unique_lock lock(guard_mu_);
  while (guarding_) {
    const std::uint64_t calls = guard_calls_;
    guard_cv_.wait(lock, [&] { return guard_calls_ != calls; });
    if (kept_seq_ >= seq) return Status::Ok();
    if (failed_seq_ >= seq) return failure_;  // the call that covered us failed
  }
  if (kept_seq_ >= seq) return Status::Ok();
  guarding_ = true;
  // The newest committed head: at least our group's, and every group committed since.
  const AuditHead head = chain_.head();
  lock.unlock();
  Status kept = release_guard_(head);
  lock.lock();
  guarding_ = false;
  ++guard_calls_;
  if (kept.ok()) {
    kept_seq_ = std::max(kept_seq_, head.seq);
  } else {
    failed_seq_ = head.seq;
    failure_ = Status::Unavailable("audit checkpoint not kept: " + kept.message(), "unavailable");
  }
  Status answer = kept.ok() ? Status::Ok() : failure_;
  lock.unlock();
  guard_cv_.notify_all();
  return answer;
}

void CommitPipeline::WriteGroup(std::span<const std::shared_ptr<Writer>> group) {
  const std::int64_t now_ms = ToUnixMillis(clock_.Now());
  ChainTip tip;
  Status status = store_.Write([&](storage::WriteTxn& txn) -> Status {
    ESCROW_ASSIGN_OR_RETURN(tip, chain_.TipIn(txn));
    std::vector<storage::AuditRow> rows;
    // The events of the group's records (events.h), each under its record's seq.
    std::vector<storage::EventRow> event_rows;
    auto link = [&](AuditEvent& e) {
      std::optional<EventNote> note = std::move(e.event);
      rows.push_back(chain_.Link(tip, now_ms, std::move(e)));
      if (note) event_rows.push_back(MakeEventRow(rows.back(), std::move(*note)));
    };
    for (const std::shared_ptr<Writer>& w : group) {
      // Its own savepoint: a failing change or finish takes back only itself, and its events
      // are not written (nor linked: the tip goes back); the rest of the group goes on.
      if (!w->change && !w->finish) {  // events alone cannot fail: no savepoint
        w->status = Status::Ok();
        for (AuditEvent& e : w->events) link(e);
        continue;
      }
      const ChainTip before = tip;
      const std::size_t linked = rows.size();
      const std::size_t noted = event_rows.size();
      w->status = txn.Isolated([&](storage::WriteTxn& t) -> Status {
        if (w->change) ESCROW_RETURN_IF_ERROR(w->change(t));
        for (AuditEvent& e : w->events) link(e);
        return w->finish ? w->finish(t, tip) : Status::Ok();
      });
      if (!w->status.ok()) {
        tip = before;
        rows.resize(linked);
        event_rows.resize(noted);
      }
    }
    if (rows.empty()) return Status::Ok();
    // One HSM operation per group: the MAC of its newest record.
    ESCROW_RETURN_IF_ERROR(chain_.Seal(rows.back()));
    for (const storage::AuditRow& row : rows) ESCROW_RETURN_IF_ERROR(txn.audit().Append(row));
    // After their records (an event names one), in the same transaction: an event exists
    // exactly when its record does.
    for (const storage::EventRow& row : event_rows) {
      ESCROW_RETURN_IF_ERROR(txn.events().Insert(row));
    }
    // The group's head, signed for outsiders once a signing key exists: in this transaction,
    // so a signed checkpoint exists only for a committed head.
    if (signer_) ESCROW_RETURN_IF_ERROR(signer_->SignIn(txn, rows.back()));
    return Status::Ok();
  });
  if (!status.ok()) {
    // Nothing of the group is on disk, or it is unknown whether it is: no caller may answer
    // as if its change were made.
    const Status failed =
        Status::Unavailable("audit commit failed: " + status.message(), "unavailable");
    for (const std::shared_ptr<Writer>& w : group) w->status = failed;
    return;
  }
  const std::optional<AuditHead> committed = chain_.Advance(tip);
  if (!committed) return;
  for (const std::shared_ptr<Writer>& w : group) w->head_seq = committed->seq;
  if (sink_) sink_(*committed);
}

}  // namespace escrow::vault
