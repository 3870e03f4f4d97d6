#include "storage/sqlite_events.h"

#include "storage/database.h"
#include "storage/row_codec.h"
#include "storage/statement.h"

namespace escrow::storage {
namespace {

#define EVENT_COLUMNS \
  "id, type, at_ms, device_id, device_name, owner, actor, role, reason, by_owner"

// The listing walks the primary key; retention walks events_by_time.
constexpr Query kList{"list events",
                      "SELECT " EVENT_COLUMNS " FROM events WHERE id > ?1 ORDER BY id LIMIT ?2"};
constexpr Query kInsert{"insert event",
                        "INSERT INTO events (" EVENT_COLUMNS
                        ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"};
constexpr Query kDeleteBefore{
    "delete old events",
    "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE at_ms < ?1 ORDER BY at_ms "
    "LIMIT ?2)"};
constexpr Query kCursor{"get notifier cursor",
                        "SELECT after_id FROM notifier_cursors WHERE client = ?1"};
constexpr Query kOldestCursor{"oldest notifier cursor", "SELECT min(after_id) FROM notifier_cursors"};
constexpr Query kAdvanceCursor{
    "advance notifier cursor",
    "INSERT INTO notifier_cursors (client, after_id) VALUES (?1, ?2) "
    "ON CONFLICT (client) DO UPDATE SET after_id = excluded.after_id WHERE excluded.after_id > after_id"};

#undef EVENT_COLUMNS

Result<EventRow> ReadRow(const Statement& stmt) {
  EventRow row;
  ESCROW_ASSIGN_OR_RETURN(row.id, stmt.ColumnUint64(0));
  row.type = stmt.ColumnText(1);
  row.at_ms = stmt.ColumnInt64(2);
  row.device_id = stmt.ColumnText(3);
  row.device_name = stmt.ColumnText(4);
  row.owner = stmt.ColumnText(5);
  row.actor = stmt.ColumnText(6);
  row.role = stmt.ColumnText(7);
  if (!stmt.ColumnIsNull(8)) row.reason = stmt.ColumnText(8);
  if (!stmt.ColumnIsNull(9)) row.by_owner = stmt.ColumnBool(9);
  return row;
}

}  // namespace

Result<std::vector<EventRow>> SqliteEvents::List(std::uint64_t after, std::size_t limit) {
  return ctx_.Run([&](Database& db) -> Result<std::vector<EventRow>> {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(kList));
    ESCROW_RETURN_IF_ERROR(stmt->BindUint64(1, after));
    ESCROW_RETURN_IF_ERROR(stmt->BindCount(2, limit));
    return ReadAll<EventRow>(*stmt, ReadRow);
  });
}

Result<std::optional<std::uint64_t>> SqliteEvents::Cursor(std::string_view client) {
  return ctx_.Run([&](Database& db) -> Result<std::optional<std::uint64_t>> {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(kCursor));
    ESCROW_RETURN_IF_ERROR(stmt->BindText(1, client));
    ESCROW_ASSIGN_OR_RETURN(const bool has_row, stmt->Step());
    if (!has_row) return std::optional<std::uint64_t>();
    ESCROW_ASSIGN_OR_RETURN(const std::uint64_t after, stmt->ColumnUint64(0));
    return std::optional<std::uint64_t>(after);
  });
}

Result<std::optional<std::uint64_t>> SqliteEvents::OldestCursor() {
  return ctx_.Run([&](Database& db) -> Result<std::optional<std::uint64_t>> {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(kOldestCursor));
    ESCROW_ASSIGN_OR_RETURN(const bool has_row, stmt->Step());
    if (!has_row || stmt->ColumnIsNull(0)) return std::optional<std::uint64_t>();
    ESCROW_ASSIGN_OR_RETURN(const std::uint64_t after, stmt->ColumnUint64(0));
    return std::optional<std::uint64_t>(after);
  });
}

Status SqliteEvents::Insert(const EventRow& row) {
  return ctx_.Run([&](Database& db) -> Status {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(kInsert));
    ESCROW_RETURN_IF_ERROR(stmt->BindUint64(1, row.id));
    ESCROW_RETURN_IF_ERROR(stmt->BindText(2, row.type));
    ESCROW_RETURN_IF_ERROR(stmt->BindInt64(3, row.at_ms));
    ESCROW_RETURN_IF_ERROR(stmt->BindText(4, row.device_id));
    ESCROW_RETURN_IF_ERROR(stmt->BindText(5, row.device_name));
    ESCROW_RETURN_IF_ERROR(stmt->BindText(6, row.owner));
    ESCROW_RETURN_IF_ERROR(stmt->BindText(7, row.actor));
    ESCROW_RETURN_IF_ERROR(stmt->BindText(8, row.role));
    ESCROW_RETURN_IF_ERROR(row.reason ? stmt->BindText(9, *row.reason) : stmt->BindNull(9));
    ESCROW_RETURN_IF_ERROR(row.by_owner ? stmt->BindBool(10, *row.by_owner) : stmt->BindNull(10));
    return stmt->Run();
  });
}

Result<std::size_t> SqliteEvents::DeleteBefore(std::int64_t before_ms, std::size_t limit) {
  return ctx_.Run([&](Database& db) -> Result<std::size_t> {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(kDeleteBefore));
    ESCROW_RETURN_IF_ERROR(stmt->BindInt64(1, before_ms));
    ESCROW_RETURN_IF_ERROR(stmt->BindCount(2, limit));
    ESCROW_RETURN_IF_ERROR(stmt->Run());
    return static_cast<std::size_t>(db.changes());
  });
}

Result<bool> SqliteEvents::AdvanceCursor(std::string_view client, std::uint64_t after) {
  return ctx_.Run([&](Database& db) -> Result<bool> {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(kAdvanceCursor));
    ESCROW_RETURN_IF_ERROR(stmt->BindText(1, client));
    ESCROW_RETURN_IF_ERROR(stmt->BindUint64(2, after));
    ESCROW_RETURN_IF_ERROR(stmt->Run());
    return db.changes() == 1;
  });
}

}  // namespace escrow::storage
