// EscrowService: events (API.md "Events for owners and security teams"). The rows themselves
// are written by the commit pipeline beside their audit records (events.h); here are their
// reading (GET /v1/events and each notifier's cursor), their retention ([events] keep_days)
// and the notifier's lag: the gauge and, after options.event_lag_alert, one alert record.

#include <algorithm>
#include <string>

#include "vault/escrow_service.h"
#include "vault/escrow_service_impl.h"
#include "vault/meta.h"

namespace escrow::vault {
namespace {

// Events deleted per commit; a sweep deletes at most kMaxBatches of them (the next sweep
// takes the rest), so that retention never holds the write lock for long.
constexpr std::size_t kDeleteBatch = 500;
constexpr int kMaxBatches = 20;
constexpr std::int64_t kDayMs = std::int64_t{86400} * 1000;

// Where the notifiers stand: whether any ever asked, and the time of the oldest event after
// the oldest cursor (of the oldest event if none asked).
struct Undelivered {
  bool asked = false;
  std::optional<std::int64_t> oldest_ms;
};

Result<Undelivered> ReadUndelivered(storage::Store& store) {
  Undelivered out;
  ESCROW_RETURN_IF_ERROR(store.Read([&](storage::ReadTxn& txn) -> Status {
    ESCROW_ASSIGN_OR_RETURN(const std::optional<std::uint64_t> cursor,
                            txn.events().OldestCursor());
    out.asked = cursor.has_value();
    ESCROW_ASSIGN_OR_RETURN(const std::vector<storage::EventRow> rows,
                            txn.events().List(cursor.value_or(0), 1));
    if (!rows.empty()) out.oldest_ms = rows.front().at_ms;
    return Status::Ok();
  }));
  return out;
}

}  // namespace

Result<EventPage> EscrowService::ListEvents(const Caller& caller, std::uint64_t after,
                                            std::size_t limit) {
  Impl& m = *impl_;
  constexpr Action kAction = Action::kReadEvents;
  Decision d = Decide(caller, kAction, nullptr);
  if (!d.allowed) return m.Deny(caller, kAction, {}, d.denial);
  if (limit == 0 || limit > kMaxEventPageLimit) {
    return m.Deny(caller, kAction, {},
                  Status::InvalidArgument("limit must be 1 to 1000.", "invalid_request"));
  }
  const bool notifier = caller.kind == Caller::Kind::kNotifier;
  std::vector<storage::EventRow> rows;
  std::optional<std::uint64_t> cursor;
  Status read = m.store.Read([&](storage::ReadTxn& txn) -> Status {
    // One more than the page, to know whether another follows.
    ESCROW_ASSIGN_OR_RETURN(rows, txn.events().List(after, limit + 1));
    if (notifier) {
      ESCROW_ASSIGN_OR_RETURN(cursor, txn.events().Cursor(caller.client));
    }
    return Status::Ok();
  });
  if (!read.ok()) return m.ReadFailed(caller, kAction, {}, read);
  EventPage page;
  const bool more = rows.size() > limit;
  if (more) rows.resize(limit);
  page.events = std::move(rows);
  if (more && !page.events.empty()) page.next_after = page.events.back().id;
  const std::string detail =
      "after=" + std::to_string(after) + " events=" + std::to_string(page.events.size());
  if (!notifier) {
    ESCROW_RETURN_IF_ERROR(m.AuditOk(caller, kAction, {}, detail));
    return page;
  }
  // The relay asks again and again for the same `after` until it delivers: only a cursor
  // that moves forward is written (and audited, in the same commit).
  if (cursor && *cursor >= after) return page;
  Status s = m.pipeline.Commit(
      [&](storage::WriteTxn& txn) -> Status {
        return txn.events().AdvanceCursor(caller.client, after).status();
      },
      {m.Event(caller, kAction, {}, "ok", {}, "cursor " + detail)});
  if (!s.ok()) return Status::Unavailable("audit unavailable: " + s.message(), "unavailable");
  return page;
}

Result<std::int64_t> EscrowService::UndeliveredEventsAge() {
  Impl& m = *impl_;
  ESCROW_ASSIGN_OR_RETURN(const Undelivered u, ReadUndelivered(m.store));
  if (!u.oldest_ms) return std::int64_t{0};
  return std::max<std::int64_t>(0, (ToUnixMillis(m.clock.Now()) - *u.oldest_ms) / 1000);
}

Result<std::size_t> EscrowService::SweepEvents() {
  Impl& m = *impl_;
  const std::int64_t now_ms = ToUnixMillis(m.clock.Now());
  const std::int64_t before_ms = now_ms - std::int64_t{m.options.event_keep_days} * kDayMs;
  std::size_t deleted = 0;
  for (int batch = 0; batch < kMaxBatches; ++batch) {
    std::size_t n = 0;
    // Derived rows: their audit records stay, so the deletion itself is not recorded.
    ESCROW_RETURN_IF_ERROR(m.pipeline.Commit(
        [&](storage::WriteTxn& txn) -> Status {
          ESCROW_ASSIGN_OR_RETURN(n, txn.events().DeleteBefore(before_ms, kDeleteBatch));
          return Status::Ok();
        },
        {}));
    deleted += n;
    if (n < kDeleteBatch) break;
  }

  // The lag: only once a notifier has asked (a vault without a relay has nobody to alert
  // about); one alert per episode, the meta row remembering it until the lag is gone.
  ESCROW_ASSIGN_OR_RETURN(const Undelivered u, ReadUndelivered(m.store));
  const std::int64_t lag_ms = std::int64_t{m.options.event_lag_alert.count()} * 1000;
  const bool lagging = u.asked && u.oldest_ms && now_ms - *u.oldest_ms >= lag_ms;
  ESCROW_ASSIGN_OR_RETURN(const std::optional<std::string> alerted,
                          ReadMetaText(m.store, MetaKey::kEventsLagAlerted));
  const bool was_alerted = alerted.value_or("") == "1";
  if (lagging == was_alerted) return deleted;
  std::vector<AuditEvent> records;
  if (lagging) {
    records.push_back(AuditEvent{
        "vault", "system", "events_undelivered", "", "ok", {},
        "alert: events undelivered for " + std::to_string(m.options.event_lag_alert.count()) +
            " s; oldest undelivered event at " + FormatRfc3339(FromUnixMillis(*u.oldest_ms)),
        std::nullopt});
  }
  ESCROW_RETURN_IF_ERROR(m.pipeline.Commit(
      [&](storage::WriteTxn& txn) {
        return WriteMetaText(txn, MetaKey::kEventsLagAlerted, lagging ? "1" : "");
      },
      std::move(records)));
  return deleted;
}

}  // namespace escrow::vault
