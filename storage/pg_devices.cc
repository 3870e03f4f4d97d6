#include <string>

#include "storage/pg_row_codec.h"
#include "storage/pg_stores.h"

namespace escrow::storage {
namespace {

#define PG_DEVICE_COLUMNS                                                                 \
  "id, serial, name, platform, ownership, owner, encryption_enabled, rotation_pending, " \
  "last_checkin_ms, created_ms, updated_ms, rotation_requested_ms, rotation_overdue_noted"

constexpr Query kGet{"get device", "SELECT " PG_DEVICE_COLUMNS " FROM devices WHERE id = $1"};
// A page after device $2 ('' from the first: ids are never empty), at most $3.
constexpr Query kListByOwner{"list devices by owner",
                             "SELECT " PG_DEVICE_COLUMNS
                             " FROM devices WHERE owner = $1 AND id > $2 ORDER BY id LIMIT $3"};
constexpr Query kListBySerial{"list devices by serial",
                              "SELECT " PG_DEVICE_COLUMNS
                              " FROM devices WHERE serial = $1 AND id > $2 ORDER BY id LIMIT $3"};
// As queries::kListDevicesByKeyId: key IDs between $1 and $2, owner $3 (then and now) if
// not NULL, after device $4 if not NULL, at most $5; through key_versions_by_key_id.
constexpr Query kListByKeyId{
    "list devices by key id",
    "SELECT " PG_DEVICE_COLUMNS
    " FROM devices WHERE id IN (SELECT device_id FROM key_versions WHERE key_id IS NOT NULL "
    "AND key_id BETWEEN $1 AND $2 AND state <> 'destroyed' AND "
    "($3::text IS NULL OR owner = $3::text)) AND ($3::text IS NULL OR owner = $3::text) AND "
    "($4::text IS NULL OR id > $4::text) ORDER BY id LIMIT $5"};
constexpr Query kListAll{"list devices",
                         "SELECT " PG_DEVICE_COLUMNS " FROM devices ORDER BY id LIMIT $1"};
constexpr Query kUpsert{
    "upsert device",
    "INSERT INTO devices (" PG_DEVICE_COLUMNS
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) "
    "ON CONFLICT (id) DO UPDATE SET serial = excluded.serial, name = excluded.name, "
    "platform = excluded.platform, ownership = excluded.ownership, owner = excluded.owner, "
    "encryption_enabled = excluded.encryption_enabled, "
    "rotation_pending = excluded.rotation_pending, last_checkin_ms = excluded.last_checkin_ms, "
    "updated_ms = excluded.updated_ms, rotation_requested_ms = excluded.rotation_requested_ms, "
    "rotation_overdue_noted = excluded.rotation_overdue_noted"};
constexpr Query kSetRotationPending{
    "set rotation pending",
    "UPDATE devices SET rotation_requested_ms = CASE WHEN NOT $2::boolean THEN NULL "
    "WHEN rotation_pending THEN rotation_requested_ms ELSE $3::bigint END, "
    "rotation_overdue_noted = CASE WHEN NOT $2::boolean THEN false "
    "ELSE rotation_overdue_noted END, rotation_pending = $2::boolean WHERE id = $1"};
// Through the partial indexes of pending rotations (migration 12).
constexpr Query kListRotationOverdue{
    "list overdue rotations",
    "SELECT " PG_DEVICE_COLUMNS
    " FROM devices WHERE rotation_pending AND rotation_requested_ms <= $1 AND "
    "($2::text IS NULL OR id > $2::text) ORDER BY id LIMIT $3"};
constexpr Query kCountRotationOverdue{
    "count overdue rotations",
    "SELECT count(*) FROM devices WHERE rotation_pending AND rotation_requested_ms <= $1"};
constexpr Query kListOverdueUnnoted{
    "list overdue rotations not yet noted",
    "SELECT " PG_DEVICE_COLUMNS
    " FROM devices WHERE rotation_pending AND NOT rotation_overdue_noted AND "
    "rotation_requested_ms <= $1 ORDER BY rotation_requested_ms, id LIMIT $2"};
constexpr Query kNoteRotationOverdue{
    "note an overdue rotation",
    "UPDATE devices SET rotation_overdue_noted = true WHERE id = $1 AND rotation_pending AND "
    "NOT rotation_overdue_noted AND rotation_requested_ms = $2"};
constexpr Query kSetCheckin{"set check-in",
                            "UPDATE devices SET last_checkin_ms = $2 WHERE id = $1"};

#undef PG_DEVICE_COLUMNS

}  // namespace

Result<std::optional<DeviceRow>> PgDevices::Get(std::string_view id) {
  PgParams params;
  params.Text(id);
  ESCROW_ASSIGN_OR_RETURN(PgResult result, ctx_.Read(kGet, params));
  return ReadPgOne<DeviceRow>(result, ReadPgDevice);
}

Result<std::vector<DeviceRow>> PgDevices::ListByOwner(std::string_view owner,
                                                      std::optional<std::string_view> after,
                                                      std::size_t limit) {
  PgParams params;
  params.Text(owner).Text(after.value_or("")).Count(limit);
  ESCROW_ASSIGN_OR_RETURN(PgResult result, ctx_.Read(kListByOwner, params));
  return ReadPgAll<DeviceRow>(result, ReadPgDevice);
}

Result<std::vector<DeviceRow>> PgDevices::ListBySerial(std::string_view serial,
                                                       std::optional<std::string_view> after,
                                                       std::size_t limit) {
  PgParams params;
  params.Text(serial).Text(after.value_or("")).Count(limit);
  ESCROW_ASSIGN_OR_RETURN(PgResult result, ctx_.Read(kListBySerial, params));
  return ReadPgAll<DeviceRow>(result, ReadPgDevice);
}

Result<std::vector<DeviceRow>> PgDevices::ListByKeyId(std::string_view key_id, bool prefix,
                                                      std::optional<std::string_view> owner,
                                                      std::optional<std::string_view> after,
                                                      std::size_t limit) {
  // Key IDs hold only [A-Za-z0-9._:-]: every ID that starts with the prefix sorts below the
  // prefix followed by 0x7f (bytewise: the columns are COLLATE "C").
  const std::string upper = prefix ? std::string(key_id) + '\x7f' : std::string(key_id);
  PgParams params;
  params.Text(key_id).Text(upper);
  params.OptionalText(owner);
  params.OptionalText(after);
  params.Count(limit);
  ESCROW_ASSIGN_OR_RETURN(PgResult result, ctx_.Read(kListByKeyId, params));
  return ReadPgAll<DeviceRow>(result, ReadPgDevice);
}

Result<std::vector<DeviceRow>> PgDevices::ListAll(std::size_t limit) {
  PgParams params;
  params.Count(limit);
  ESCROW_ASSIGN_OR_RETURN(PgResult result, ctx_.Read(kListAll, params));
  return ReadPgAll<DeviceRow>(result, ReadPgDevice);
}

Result<std::vector<DeviceRow>> PgDevices::ListRotationOverdue(
    std::int64_t since_ms, std::optional<std::string_view> after, std::size_t limit) {
  PgParams params;
  params.Int64(since_ms);
  params.OptionalText(after);
  params.Count(limit);
  ESCROW_ASSIGN_OR_RETURN(PgResult result, ctx_.Read(kListRotationOverdue, params));
  return ReadPgAll<DeviceRow>(result, ReadPgDevice);
}

Result<std::int64_t> PgDevices::CountRotationOverdue(std::int64_t since_ms) {
  PgParams params;
  params.Int64(since_ms);
  ESCROW_ASSIGN_OR_RETURN(PgResult result, ctx_.Read(kCountRotationOverdue, params));
  if (result.rows() != 1) return Status::Internal("count(*) returned no row");
  return result.Int64(0, 0);
}

Result<std::vector<DeviceRow>> PgDevices::ListOverdueUnnoted(std::int64_t since_ms,
                                                             std::size_t limit) {
  PgParams params;
  params.Int64(since_ms).Count(limit);
  ESCROW_ASSIGN_OR_RETURN(PgResult result, ctx_.Read(kListOverdueUnnoted, params));
  return ReadPgAll<DeviceRow>(result, ReadPgDevice);
}

Status PgDevices::Upsert(const DeviceRow& row) {
  PgParams params;
  ESCROW_RETURN_IF_ERROR(Named(AddPgDevice(params, row), kUpsert));
  return ctx_.Change(kUpsert, params).status();
}

Status PgDevices::SetRotationPending(std::string_view device_id, bool pending,
                                     std::int64_t now_ms) {
  PgParams params;
  params.Text(device_id).Bool(pending).Int64(now_ms);
  ESCROW_ASSIGN_OR_RETURN(PgResult result, ctx_.Change(kSetRotationPending, params));
  return ExpectPgOneChange(result, "device");
}

Status PgDevices::SetCheckin(std::string_view device_id, std::int64_t when_ms) {
  PgParams params;
  params.Text(device_id).Int64(when_ms);
  ESCROW_ASSIGN_OR_RETURN(PgResult result, ctx_.Change(kSetCheckin, params));
  return ExpectPgOneChange(result, "device");
}

Status PgDevices::NoteRotationOverdue(std::string_view device_id, std::int64_t requested_ms) {
  PgParams params;
  params.Text(device_id).Int64(requested_ms);
  ESCROW_ASSIGN_OR_RETURN(PgResult result, ctx_.Change(kNoteRotationOverdue, params));
  if (result.affected() == 0) {
    return Status::FailedPrecondition("the device's overdue rotation changed or was noted");
  }
  return Status::Ok();
}

}  // namespace escrow::storage
