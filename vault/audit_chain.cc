#include "vault/audit_chain.h"

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
  r.event = AuditEvent{row.actor,   row.role,   row.action, row.device_id,
                       row.outcome, row.reason, row.detail, std::nullopt};
  r.hash = HexEncode(row.hash);
  r.sealed = row.mac.has_value();
  return r;
}

Bytes EncodeAuditRecord(const storage::AuditRow& row) {
  Bytes out;
  out.reserve(64 + row.actor.size() + row.action.size() + row.device_id.size() + row.reason.size() +
              row.detail.size());
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

Result<AuditHead> ParseAuditHead(std::string_view text) {
  constexpr std::size_t kHashHex = 64;
  const std::size_t colon = text.find(':');
  const Status bad = Status::InvalidArgument("an audit head is SEQ:HASH (64 lowercase hex)");
  if (colon == std::string_view::npos || colon == 0 || colon > 19) return bad;
  const std::string_view seq_text = text.substr(0, colon);
  const std::string_view hash = text.substr(colon + 1);
  if (seq_text.find_first_not_of("0123456789") != std::string_view::npos) return bad;
  if (hash.size() != kHashHex ||
      hash.find_first_not_of("0123456789abcdef") != std::string_view::npos) {
    return bad;
  }
  return AuditHead{std::stoull(std::string(seq_text)), std::string(hash)};
}

void SanitizeAuditEvent(AuditEvent& e) {
  // Owners, serials and names are at most 256 bytes, device ids 128, reasons 500; what
  // callers send is cut shorter where it enters (ids, stated reasons). A detail may be a
  // ceremony's JSON record (share check values, key lists): bounded, but generously.
  for (auto [field, max] :
       {std::pair{&e.actor, 320}, std::pair{&e.role, 64}, std::pair{&e.action, 64},
        std::pair{&e.device_id, 160}, std::pair{&e.outcome, 16}, std::pair{&e.reason, 640},
        std::pair{&e.detail, 65536}}) {
    const auto limit = static_cast<std::size_t>(max);
    if (field->size() <= limit && IsCleanUtf8(AsBytes(*field))) continue;  // no copy
    *field = EscapeText(*field, limit);
  }
  if (!e.event) return;
  for (auto [field, max] : {std::pair{&e.event->type, 64}, std::pair{&e.event->device_name, 320},
                            std::pair{&e.event->owner, 320}}) {
    const auto limit = static_cast<std::size_t>(max);
    if (field->size() <= limit && IsCleanUtf8(AsBytes(*field))) continue;
    *field = EscapeText(*field, limit);
  }
  if (e.event->reason && !IsCleanUtf8(AsBytes(*e.event->reason))) {
    e.event->reason = EscapeText(*e.event->reason, 640);
  }
}

AuditChain::AuditChain(hsm::KeyService& keys, storage::Store& store,
                       std::uint32_t audit_key_version)
    : keys_(keys), store_(store), audit_key_version_(audit_key_version) {
  head_.hash.assign(kHashBytes, 0);
}

Status AuditChain::CheckSealed(const storage::AuditRow& row) const {
  // The newest record must be sealed by the HSM: a database rolled back or edited past the
  // last group would otherwise be extended silently.
  if (!row.mac.has_value()) {
    return Status::DataLoss("audit head record " + std::to_string(row.seq) + " is not sealed");
  }
  Status s = keys_.Verify(hsm::KeyRole::kAudit, row.audit_key_version, MacInput(row.seq, row.hash),
                          *row.mac);
  if (s.ok() || s.code() != Code::kDataLoss) return s;
  return Status::DataLoss("audit head record " + std::to_string(row.seq) + " fails its MAC");
}

Status AuditChain::LoadHead() {
  Result<std::optional<storage::AuditRow>> last =
      storage::ReadValue(store_, [](storage::ReadTxn& txn) { return txn.audit().Last(); });
  if (!last.ok()) return last.status();
  if (!last->has_value()) return Status::Ok();
  const storage::AuditRow& row = **last;
  ESCROW_RETURN_IF_ERROR(CheckSealed(row));
  std::lock_guard lock(mu_);
  head_ = ChainTip{row.seq, row.hash};
  return Status::Ok();
}

AuditHead AuditChain::head() const {
  std::lock_guard lock(mu_);
  return AuditHead{head_.seq, HexEncode(head_.hash)};
}

ChainTip AuditChain::tip() const {
  std::lock_guard lock(mu_);
  return head_;
}

Result<ChainTip> AuditChain::TipIn(storage::WriteTxn& txn) const {
  ChainTip tip = this->tip();
  Result<std::optional<storage::AuditRow>> stored = txn.audit().Last();
  if (!stored.ok()) return stored.status();
  const std::uint64_t stored_seq = stored->has_value() ? (*stored)->seq : 0;
  if (stored_seq < tip.seq) {
    return Status::DataLoss("the audit log went back from " + std::to_string(tip.seq) + " to " +
                            std::to_string(stored_seq));
  }
  if (stored_seq > tip.seq) {
    const storage::AuditRow& row = **stored;
    ESCROW_RETURN_IF_ERROR(CheckSealed(row));
    tip = ChainTip{row.seq, row.hash};
  }
  return tip;
}

storage::AuditRow AuditChain::Link(ChainTip& tip, std::int64_t time_ms, AuditEvent&& e) const {
  storage::AuditRow row;
  row.seq = ++tip.seq;
  row.time_ms = time_ms;
  row.actor = std::move(e.actor);
  row.role = std::move(e.role);
  row.action = std::move(e.action);
  row.device_id = std::move(e.device_id);
  row.outcome = std::move(e.outcome);
  row.reason = std::move(e.reason);
  row.detail = std::move(e.detail);
  row.audit_key_version = audit_key_version_;
  tip.hash = ChainHash(tip.hash, EncodeAuditRecord(row));
  row.hash = tip.hash;
  return row;
}

Status AuditChain::Seal(storage::AuditRow& newest) const {
  Result<hsm::Mac> mac =
      keys_.Sign(hsm::KeyRole::kAudit, audit_key_version_, MacInput(newest.seq, newest.hash));
  if (!mac.ok()) return Status::Unavailable("audit MAC failed: " + mac.status().message());
  newest.mac = Bytes(mac->begin(), mac->end());
  return Status::Ok();
}

std::optional<AuditHead> AuditChain::Advance(const ChainTip& tip) {
  std::lock_guard lock(mu_);
  if (tip.seq == head_.seq) return std::nullopt;
  head_ = tip;
  return AuditHead{tip.seq, HexEncode(tip.hash)};
}

Result<AuditVerifyReport> AuditChain::Verify(const std::optional<AuditHead>& expected) const {
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
        Status s = keys_.Verify(hsm::KeyRole::kAudit, row.audit_key_version,
                                MacInput(row.seq, row.hash), *row.mac);
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
    fail(last->seq,
         "newest record " + std::to_string(last->seq) + " is not sealed: the log was truncated");
  }
  if (!report.first_bad && expected) {
    if (report.head.seq < expected->seq) {
      fail(report.head.seq + 1, "log ends at " + std::to_string(report.head.seq) +
                                    ", before the expected head " + std::to_string(expected->seq) +
                                    ": truncated or rolled back");
    } else {
      Result<std::vector<storage::AuditRow>> at =
          storage::ReadValue(store_, [&](storage::ReadTxn& txn) {
            return txn.audit().List(expected->seq - (expected->seq > 0 ? 1 : 0), 1, std::nullopt);
          });
      if (!at.ok()) return at.status();
      const std::string got = expected->seq == 0
                                  ? HexEncode(Bytes(kHashBytes, 0))
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
