// Events and notifier cursors on PostgreSQL (PgEvents), as sqlite_events.cc on SQLite.

#include "storage/pg_row_codec.h"
#include "storage/pg_stores.h"

namespace escrow::storage {
namespace {

#define PG_EVENT_COLUMNS \
  "id, type, at_ms, device_id, device_name, owner, actor, role, reason, by_owner"

// The listing walks the primary key; retention walks events_by_time.
constexpr Query kList{"list events", "SELECT " PG_EVENT_COLUMNS
                                     " FROM events WHERE id > $1 ORDER BY id LIMIT $2"};
constexpr Query kInsert{"insert event", "INSERT INTO events (" PG_EVENT_COLUMNS
                                        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"};
constexpr Query kDeleteBefore{
    "delete old events",
    "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE at_ms < $1 ORDER BY at_ms "
    "LIMIT $2)"};
constexpr Query kCursor{"get notifier cursor",
                        "SELECT after_id FROM notifier_cursors WHERE client = $1"};
constexpr Query kOldestCursor{"oldest notifier cursor",
                              "SELECT min(after_id) FROM notifier_cursors"};
// A cursor never goes back: the update happens only for a larger `after`.
constexpr Query kAdvanceCursor{
    "advance notifier cursor",
    "INSERT INTO notifier_cursors AS c (client, after_id) VALUES ($1, $2) "
    "ON CONFLICT (client) DO UPDATE SET after_id = excluded.after_id "
    "WHERE excluded.after_id > c.after_id"};

#undef PG_EVENT_COLUMNS

Result<EventRow> ReadEvent(const PgResult& r, int i) {
  EventRow row;
  ESCROW_ASSIGN_OR_RETURN(row.id, r.Uint64(i, 0));
  row.type = r.Text(i, 1);
  ESCROW_ASSIGN_OR_RETURN(row.at_ms, r.Int64(i, 2));
  row.device_id = r.Text(i, 3);
  row.device_name = r.Text(i, 4);
  row.owner = r.Text(i, 5);
  row.actor = r.Text(i, 6);
  row.role = r.Text(i, 7);
  if (!r.IsNull(i, 8)) row.reason = r.Text(i, 8);
  if (!r.IsNull(i, 9)) {
    ESCROW_ASSIGN_OR_RETURN(const bool by_owner, r.Bool(i, 9));
    row.by_owner = by_owner;
  }
  return row;
}

Result<std::optional<std::uint64_t>> OptionalCursor(const PgResult& r) {
  if (r.rows() == 0 || r.IsNull(0, 0)) return std::optional<std::uint64_t>();
  ESCROW_ASSIGN_OR_RETURN(const std::uint64_t after, r.Uint64(0, 0));
  return std::optional<std::uint64_t>(after);
}

}  // namespace

Result<std::vector<EventRow>> PgEvents::List(std::uint64_t after, std::size_t limit) {
  PgParams params;
  params.Uint64Clamped(after).Count(limit);
  ESCROW_ASSIGN_OR_RETURN(PgResult result, ctx_.Read(kList, params));
  return ReadPgAll<EventRow>(result, ReadEvent);
}

Result<std::optional<std::uint64_t>> PgEvents::Cursor(std::string_view client) {
  PgParams params;
  params.Text(client);
  ESCROW_ASSIGN_OR_RETURN(PgResult result, ctx_.Read(kCursor, params));
  return OptionalCursor(result);
}

Result<std::optional<std::uint64_t>> PgEvents::OldestCursor() {
  ESCROW_ASSIGN_OR_RETURN(PgResult result, ctx_.Read(kOldestCursor));
  return OptionalCursor(result);
}

Status PgEvents::Insert(const EventRow& row) {
  if (row.id == 0 || row.type.empty()) {
    return Status::InvalidArgument("insert event: id 0 or an empty type");
  }
  PgParams params;
  params.Uint64Clamped(row.id)
      .Text(row.type)
      .Int64(row.at_ms)
      .Text(row.device_id)
      .Text(row.device_name)
      .Text(row.owner)
      .Text(row.actor)
      .Text(row.role)
      .OptionalText(row.reason ? std::optional<std::string_view>(*row.reason) : std::nullopt);
  if (row.by_owner) {
    params.Bool(*row.by_owner);
  } else {
    params.Null();
  }
  return ctx_.Change(kInsert, params).status();
}

Result<std::size_t> PgEvents::DeleteBefore(std::int64_t before_ms, std::size_t limit) {
  PgParams params;
  params.Int64(before_ms).Count(limit);
  ESCROW_ASSIGN_OR_RETURN(PgResult result, ctx_.Change(kDeleteBefore, params));
  return static_cast<std::size_t>(result.affected());
}

Result<bool> PgEvents::AdvanceCursor(std::string_view client, std::uint64_t after) {
  PgParams params;
  params.Text(client).Uint64Clamped(after);
  ESCROW_ASSIGN_OR_RETURN(PgResult result, ctx_.Change(kAdvanceCursor, params));
  return result.affected() == 1;
}

}  // namespace escrow::storage
