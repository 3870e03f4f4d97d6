#include "vault/audit_log.h"

#include <openssl/evp.h>

#include "base/check.h"
#include "base/ssl_ptr.h"
#include "base/utf8.h"
#include "hsm/key_service.h"
#include "storage/store.h"

namespace escrow::vault {
namespace {

constexpr std::size_t kHashBytes = 32;

void AppendField(Bytes& out, std::string_view s) {
  AppendU32Be(out, static_cast<std::uint32_t>(s.size()));
  Append(out, s);
}

}  // namespace

AuditRecord ToAuditRecord(const storage::AuditRow& row) {
  AuditRecord r;
  r.seq = row.seq;
  r.time = FromUnixMillis(row.time_ms);
  r.event = AuditEvent{row.actor, row.role, row.action, row.device_id,
                       row.outcome, row.reason, row.detail};
  r.hash = HexEncode(row.hash);
  r.sealed = row.mac.has_value();
  return r;
}

Bytes EncodeAuditRecord(const storage::AuditRow& row) {
  Bytes out;
  out.reserve(64 + row.actor.size() + row.action.size() + row.device_id.size() +
              row.reason.size() + row.detail.size());
  AppendU64Be(out, row.seq);
  AppendU64Be(out, static_cast<std::uint64_t>(row.time_ms));
  AppendField(out, row.actor);
  AppendField(out, row.role);
  AppendField(out, row.action);
  AppendField(out, row.device_id);
  AppendField(out, row.outcome);
  AppendField(out, row.reason);
  AppendField(out, row.detail);
  AppendU32Be(out, row.audit_key_version);
  return out;
}

Bytes ChainHash(std::span<const std::uint8_t> prev_hash, std::span<const std::uint8_t> encoded) {
  Bytes out(kHashBytes);
  const SslPtr<EVP_MD_CTX> ctx(EVP_MD_CTX_new());
  ESCROW_CHECK(ctx != nullptr);
  unsigned int len = 0;
  const bool ok = EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) == 1 &&
                  EVP_DigestUpdate(ctx.get(), prev_hash.data(), prev_hash.size()) == 1 &&
                  EVP_DigestUpdate(ctx.get(), encoded.data(), encoded.size()) == 1 &&
                  EVP_DigestFinal_ex(ctx.get(), out.data(), &len) == 1;
  ESCROW_CHECK(ok && len == kHashBytes);
  return out;
}

Bytes MacInput(std::uint64_t seq, std::span<const std::uint8_t> hash) {
  Bytes out;
  Append(out, std::string_view("escrow-audit-head"));
  AppendU64Be(out, seq);
  Append(out, hash);
  return out;
}

struct AuditLog::Job {
  Change change;
  std::vector<AuditEvent> events;
  Status result;
  bool done = false;                 // guarded by mu_
  std::condition_variable done_cv;   // its caller waits here alone: a group wakes only its own
};

AuditLog::AuditLog(hsm::KeyService& keys, storage::Store& store, const Clock& clock,
                   std::uint32_t audit_key_version, CheckpointSink sink, int batch_max)
    : keys_(keys),
      store_(store),
      clock_(clock),
      audit_key_version_(audit_key_version),
      sink_(std::move(sink)),
      batch_max_(static_cast<std::size_t>(batch_max > 0 ? batch_max : 1)),
      head_hash_(kHashBytes, 0) {}

AuditLog::~AuditLog() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  work_cv_.notify_all();
  if (writer_.joinable()) writer_.join();
}

Status AuditLog::Start() {
  Result<std::optional<storage::AuditRow>> last =
      storage::ReadValue(store_, [](storage::ReadTxn& txn) { return txn.audit().Last(); });
  if (!last.ok()) return last.status();
  if (last->has_value()) {
    const storage::AuditRow& row = **last;
    // The newest record must be sealed by the HSM: a database rolled back or edited past
    // the last group would otherwise be extended silently.
    if (!row.mac.has_value()) {
      return Status::DataLoss("audit head record " + std::to_string(row.seq) + " is not sealed");
    }
    Status s = keys_.Verify(row.audit_key_version, MacInput(row.seq, row.hash), *row.mac);
    if (!s.ok()) {
      return s.code() == Code::kDataLoss
                 ? Status::DataLoss("audit head record " + std::to_string(row.seq) +
                                    " fails its MAC")
                 : s;
    }
    std::lock_guard lock(mu_);
    head_seq_ = row.seq;
    head_hash_ = row.hash;
  }
  writer_ = std::thread([this] { WriterLoop(); });
  return Status::Ok();
}

AuditHead AuditLog::head() const {
  std::lock_guard lock(mu_);
  return AuditHead{head_seq_, HexEncode(head_hash_)};
}

void SanitizeAuditEvent(AuditEvent& e) {
  // Owners, serials and names are at most 256 bytes, device ids 128, reasons 500; what
  // callers send is cut shorter where it enters (ids, stated reasons). A detail may be a
  // ceremony's JSON record (share check values, key lists): bounded, but generously.
  for (auto [field, max] : {std::pair{&e.actor, 320}, std::pair{&e.role, 64},
                            std::pair{&e.action, 64}, std::pair{&e.device_id, 160},
                            std::pair{&e.outcome, 16}, std::pair{&e.reason, 640},
                            std::pair{&e.detail, 65536}}) {
    const auto limit = static_cast<std::size_t>(max);
    if (field->size() <= limit && IsCleanUtf8(AsBytes(*field))) continue;  // no copy
    *field = EscapeText(*field, limit);
  }
}

Status AuditLog::Commit(Change change, std::vector<AuditEvent> events) {
  for (AuditEvent& e : events) SanitizeAuditEvent(e);
  auto job = std::make_shared<Job>();
  job->change = std::move(change);
  job->events = std::move(events);
  std::unique_lock lock(mu_);
  if (stopping_ || !writer_.joinable()) return Status::Unavailable("audit log is not running");
  queue_.push_back(job);
  work_cv_.notify_one();
  job->done_cv.wait(lock, [&] { return job->done; });
  return job->result;
}

void AuditLog::WriterLoop() {
  std::unique_lock lock(mu_);
  for (;;) {
    work_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping and drained
    std::vector<std::shared_ptr<Job>> group;
    while (!queue_.empty() && group.size() < batch_max_) {
      group.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    lock.unlock();
    RunGroup(group);
    lock.lock();
    for (auto& job : group) job->done = true;
    // Woken after the unlock, so that none wakes only to wait for mu_; `group` keeps each
    // job (and its condition variable) alive until then.
    lock.unlock();
    for (auto& job : group) job->done_cv.notify_one();
    lock.lock();
  }
}

void AuditLog::RunGroup(std::vector<std::shared_ptr<Job>>& group) {
  std::uint64_t seq = 0;
  Bytes hash;
  {
    std::lock_guard lock(mu_);
    seq = head_seq_;
    hash = head_hash_;
  }
  const std::int64_t now_ms = ToUnixMillis(clock_.Now());
  Status status = store_.Write([&](storage::WriteTxn& txn) -> Status {
    // Another process may have appended since our last group (vaultctl's ceremony records
    // while vaultd serves). The write lock is held, so the stored head cannot move until we
    // commit: continue the chain from it, once its MAC proves it came from the vault.
    Result<std::optional<storage::AuditRow>> stored = txn.audit().Last();
    if (!stored.ok()) return stored.status();
    const std::uint64_t stored_seq = stored->has_value() ? (*stored)->seq : 0;
    if (stored_seq < seq) {
      return Status::DataLoss("the audit log went back from " + std::to_string(seq) + " to " +
                              std::to_string(stored_seq));
    }
    if (stored_seq > seq) {
      const storage::AuditRow& row = **stored;
      if (!row.mac.has_value()) {
        return Status::DataLoss("audit head record " + std::to_string(row.seq) +
                                " is not sealed");
      }
      ESCROW_RETURN_IF_ERROR(
          keys_.Verify(row.audit_key_version, MacInput(row.seq, row.hash), *row.mac));
      seq = row.seq;
      hash = row.hash;
    }
    std::vector<storage::AuditRow> rows;
    for (auto& job : group) {
      job->result = job->change ? txn.Isolated(job->change) : Status::Ok();
      if (!job->result.ok()) continue;
      for (AuditEvent& e : job->events) {
        storage::AuditRow row;
        row.seq = ++seq;
        row.time_ms = now_ms;
        row.actor = std::move(e.actor);
        row.role = std::move(e.role);
        row.action = std::move(e.action);
        row.device_id = std::move(e.device_id);
        row.outcome = std::move(e.outcome);
        row.reason = std::move(e.reason);
        row.detail = std::move(e.detail);
        row.audit_key_version = audit_key_version_;
        hash = ChainHash(hash, EncodeAuditRecord(row));
        row.hash = hash;
        rows.push_back(std::move(row));
      }
    }
    if (rows.empty()) return Status::Ok();
    // One HSM operation per group: the MAC of its newest record.
    Result<hsm::Mac> mac = keys_.Sign(audit_key_version_, MacInput(rows.back().seq, hash));
    if (!mac.ok()) return Status::Unavailable("audit MAC failed: " + mac.status().message());
    rows.back().mac = Bytes(mac->begin(), mac->end());
    for (const storage::AuditRow& row : rows) ESCROW_RETURN_IF_ERROR(txn.audit().Append(row));
    return Status::Ok();
  });
  if (!status.ok()) {
    const Status failed =
        Status::Unavailable("audit commit failed: " + status.message(), "unavailable");
    for (auto& job : group) job->result = failed;
    return;
  }
  AuditHead committed;
  {
    std::lock_guard lock(mu_);
    if (seq != head_seq_) {
      head_seq_ = seq;
      head_hash_ = hash;
      committed = AuditHead{seq, HexEncode(hash)};
    }
  }
  if (committed.seq != 0 && sink_) sink_(committed);
}

Result<AuditVerifyReport> AuditLog::Verify(const std::optional<AuditHead>& expected) {
  AuditVerifyReport report;
  Bytes prev(kHashBytes, 0);
  std::uint64_t next_seq = 1;
  std::optional<storage::AuditRow> last;
  auto fail = [&](std::uint64_t seq, std::string problem) {
    report.ok = false;
    if (!report.first_bad) {
      report.first_bad = seq;
      report.problem = std::move(problem);
    }
  };
  std::uint64_t after = 0;
  constexpr std::size_t kPage = 1000;
  for (;;) {
    Result<std::vector<storage::AuditRow>> page = storage::ReadValue(
        store_,
        [&](storage::ReadTxn& txn) { return txn.audit().List(after, kPage, std::nullopt); });
    if (!page.ok()) return page.status();
    for (storage::AuditRow& row : *page) {
      if (report.first_bad) break;
      if (row.seq != next_seq) {
        fail(next_seq, "record " + std::to_string(next_seq) + " is missing or out of order");
        break;
      }
      const Bytes h = ChainHash(prev, EncodeAuditRecord(row));
      if (h != row.hash) {
        fail(row.seq, "record " + std::to_string(row.seq) + " does not match its hash");
        break;
      }
      if (row.mac.has_value()) {
        Status s = keys_.Verify(row.audit_key_version, MacInput(row.seq, row.hash), *row.mac);
        if (s.code() == Code::kUnavailable) return s;
        if (!s.ok()) {
          fail(row.seq, "record " + std::to_string(row.seq) + " fails its group MAC");
          break;
        }
      }
      prev = h;
      ++next_seq;
      ++report.records;
      after = row.seq;
      last = std::move(row);
    }
    if (report.first_bad || page->size() < kPage) break;
  }
  report.head = AuditHead{last ? last->seq : 0, HexEncode(last ? last->hash : prev)};
  if (!report.first_bad && last && !last->mac.has_value()) {
    fail(last->seq, "newest record " + std::to_string(last->seq) +
                        " is not sealed: the log was truncated");
  }
  if (!report.first_bad && expected) {
    if (report.head.seq < expected->seq) {
      fail(report.head.seq + 1, "log ends at " + std::to_string(report.head.seq) +
                                    ", before the expected head " +
                                    std::to_string(expected->seq) + ": truncated or rolled back");
    } else {
      Result<std::vector<storage::AuditRow>> at =
          storage::ReadValue(store_, [&](storage::ReadTxn& txn) {
            return txn.audit().List(expected->seq - (expected->seq > 0 ? 1 : 0), 1, std::nullopt);
          });
      if (!at.ok()) return at.status();
      const std::string got =
          expected->seq == 0 ? HexEncode(Bytes(kHashBytes, 0))
                             : (at->empty() ? std::string() : HexEncode(at->front().hash));
      if (got != expected->hash) {
        fail(expected->seq, "record " + std::to_string(expected->seq) +
                                " differs from the expected head: the log was rewritten");
      }
    }
  }
  return report;
}

}  // namespace escrow::vault
