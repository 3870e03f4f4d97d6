// The small tables' stores on PostgreSQL: quota events (PgLimits), meta values
// (PgMetaValues) and device state records (PgDeviceStates).

#include "storage/pg_row_codec.h"
#include "storage/pg_stores.h"

namespace escrow::storage {
namespace {

constexpr Query kQuotaWindow{
    "read quota window",
    "SELECT count(*), min(at_ms) FROM quota_events WHERE principal = $1 AND at_ms > $2"};
constexpr Query kInsertQuotaEvent{"insert quota event",
                                  "INSERT INTO quota_events (principal, at_ms) VALUES ($1, $2)"};
constexpr Query kPruneQuotaEvents{"prune quota events",
                                  "DELETE FROM quota_events WHERE principal = $1 AND at_ms <= $2"};

constexpr Query kGetMeta{"get meta", "SELECT value FROM meta WHERE key = $1"};
constexpr Query kSetMeta{"set meta",
                         "INSERT INTO meta (key, value) VALUES ($1, $2) "
                         "ON CONFLICT (key) DO UPDATE SET value = excluded.value"};

#define PG_DEVICE_STATE_COLUMNS                                                   \
  "device_id, current_version, rotation_pending, burned, audit_seq, audit_hash, " \
  "state_key_version, mac, rotation_command_sent"
constexpr Query kGetDeviceState{"get device state", "SELECT " PG_DEVICE_STATE_COLUMNS
                                                    " FROM device_states WHERE device_id = $1"};
constexpr Query kListDeviceStates{"list device states",
                                  "SELECT " PG_DEVICE_STATE_COLUMNS
                                  " FROM device_states ORDER BY device_id LIMIT $1"};
constexpr Query kListDeviceStatesAfter{
    "list device states after a device",
    "SELECT " PG_DEVICE_STATE_COLUMNS
    " FROM device_states WHERE device_id > $2 ORDER BY device_id LIMIT $1"};
constexpr Query kPutDeviceState{
    "put device state",
    "INSERT INTO device_states (" PG_DEVICE_STATE_COLUMNS
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
    "ON CONFLICT (device_id) DO UPDATE SET current_version = excluded.current_version, "
    "rotation_pending = excluded.rotation_pending, burned = excluded.burned, "
    "audit_seq = excluded.audit_seq, audit_hash = excluded.audit_hash, "
    "state_key_version = excluded.state_key_version, mac = excluded.mac, "
    "rotation_command_sent = excluded.rotation_command_sent"};
#undef PG_DEVICE_STATE_COLUMNS

Result<QuotaWindow> ReadWindow(PgTxnContext& ctx, std::string_view principal,
                               std::int64_t since_ms) {
  PgParams params;
  params.Text(principal).Int64(since_ms);
  ESCROW_ASSIGN_OR_RETURN(PgResult result, ctx.Read(kQuotaWindow, params));
  if (result.rows() != 1) return Status::Internal("read quota window: no row");
  QuotaWindow window;
  ESCROW_ASSIGN_OR_RETURN(window.count, result.Int64(0, 0));
  if (!result.IsNull(0, 1)) {
    ESCROW_ASSIGN_OR_RETURN(window.oldest_ms, result.Int64(0, 1));
  }
  return window;
}

}  // namespace

Result<QuotaWindow> PgLimits::GetQuotaWindow(std::string_view principal, std::int64_t since_ms) {
  return ReadWindow(ctx_, principal, since_ms);
}

Result<QuotaWindow> PgLimits::AddQuotaEvent(std::string_view principal, std::int64_t at_ms,
                                            std::int64_t since_ms) {
  PgParams prune;
  prune.Text(principal).Int64(since_ms);
  ESCROW_RETURN_IF_ERROR(ctx_.Change(kPruneQuotaEvents, prune).status());
  PgParams insert;
  insert.Text(principal).Int64(at_ms);
  ESCROW_RETURN_IF_ERROR(ctx_.Change(kInsertQuotaEvent, insert).status());
  return ReadWindow(ctx_, principal, since_ms);
}

Result<std::optional<std::string>> PgMetaValues::Get(std::string_view key) {
  PgParams params;
  params.Text(key);
  ESCROW_ASSIGN_OR_RETURN(PgResult result, ctx_.Read(kGetMeta, params));
  if (result.rows() == 0) return std::optional<std::string>();
  return std::optional<std::string>(result.Text(0, 0));
}

Status PgMetaValues::Set(std::string_view key, std::string_view value) {
  PgParams params;
  params.Text(key).Text(value);
  return ctx_.Change(kSetMeta, params).status();
}

Result<std::optional<DeviceStateRow>> PgDeviceStates::Get(std::string_view device_id) {
  PgParams params;
  params.Text(device_id);
  ESCROW_ASSIGN_OR_RETURN(PgResult result, ctx_.Read(kGetDeviceState, params));
  return ReadPgOne<DeviceStateRow>(result, ReadPgDeviceState);
}

Result<std::vector<DeviceStateRow>> PgDeviceStates::List(std::size_t limit,
                                                         std::optional<std::string_view> after) {
  PgParams params;
  params.Count(limit);
  if (after) params.Text(*after);
  ESCROW_ASSIGN_OR_RETURN(PgResult result,
                          ctx_.Read(after ? kListDeviceStatesAfter : kListDeviceStates, params));
  return ReadPgAll<DeviceStateRow>(result, ReadPgDeviceState);
}

Status PgDeviceStates::Put(const DeviceStateRow& row) {
  PgParams params;
  AddPgDeviceState(params, row);
  return ctx_.Change(kPutDeviceState, params).status();
}

}  // namespace escrow::storage
