#include "storage/sqlite_devices.h"

#include "storage/database.h"
#include "storage/queries.h"
#include "storage/row_codec.h"

namespace escrow::storage {

Result<std::optional<DeviceRow>> SqliteDevices::Get(std::string_view id) {
  return ctx_.Run([&](Database& db) -> Result<std::optional<DeviceRow>> {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(queries::kGetDevice));
    ESCROW_RETURN_IF_ERROR(stmt->BindText(1, id));
    return ReadOne<DeviceRow>(*stmt, ReadDevice);
  });
}

Result<std::vector<DeviceRow>> SqliteDevices::ListByOwner(std::string_view owner,
                                                          std::optional<std::string_view> after,
                                                          std::size_t limit) {
  return ctx_.Run([&](Database& db) -> Result<std::vector<DeviceRow>> {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(queries::kListDevicesByOwner));
    ESCROW_RETURN_IF_ERROR(stmt->BindText(1, owner));
    ESCROW_RETURN_IF_ERROR(stmt->BindText(2, after.value_or(queries::kBeforeEveryDeviceId)));
    ESCROW_RETURN_IF_ERROR(stmt->BindCount(3, limit));
    return ReadAll<DeviceRow>(*stmt, ReadDevice);
  });
}

Result<std::vector<DeviceRow>> SqliteDevices::ListBySerial(std::string_view serial,
                                                           std::optional<std::string_view> after,
                                                           std::size_t limit) {
  return ctx_.Run([&](Database& db) -> Result<std::vector<DeviceRow>> {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(queries::kListDevicesBySerial));
    ESCROW_RETURN_IF_ERROR(stmt->BindText(1, serial));
    ESCROW_RETURN_IF_ERROR(stmt->BindText(2, after.value_or(queries::kBeforeEveryDeviceId)));
    ESCROW_RETURN_IF_ERROR(stmt->BindCount(3, limit));
    return ReadAll<DeviceRow>(*stmt, ReadDevice);
  });
}

Result<std::vector<DeviceRow>> SqliteDevices::ListByKeyId(std::string_view key_id, bool prefix,
                                                          std::optional<std::string_view> owner,
                                                          std::optional<std::string_view> after,
                                                          std::size_t limit) {
  // Key IDs hold only [A-Za-z0-9._:-]: every ID that starts with the prefix sorts below the
  // prefix followed by 0x7f.
  const std::string upper = prefix ? std::string(key_id) + '\x7f' : std::string(key_id);
  return ctx_.Run([&](Database& db) -> Result<std::vector<DeviceRow>> {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(queries::kListDevicesByKeyId));
    ESCROW_RETURN_IF_ERROR(stmt->BindText(1, key_id));
    ESCROW_RETURN_IF_ERROR(stmt->BindText(2, upper));
    ESCROW_RETURN_IF_ERROR(owner ? stmt->BindText(3, *owner) : stmt->BindNull(3));
    ESCROW_RETURN_IF_ERROR(after ? stmt->BindText(4, *after) : stmt->BindNull(4));
    ESCROW_RETURN_IF_ERROR(stmt->BindCount(5, limit));
    return ReadAll<DeviceRow>(*stmt, ReadDevice);
  });
}

Result<std::vector<DeviceRow>> SqliteDevices::ListAll(std::size_t limit) {
  return ctx_.Run([&](Database& db) -> Result<std::vector<DeviceRow>> {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(queries::kListAllDevices));
    ESCROW_RETURN_IF_ERROR(stmt->BindCount(1, limit));
    return ReadAll<DeviceRow>(*stmt, ReadDevice);
  });
}

Status SqliteDevices::Upsert(const DeviceRow& row) {
  return ctx_.Run([&](Database& db) -> Status {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(queries::kUpsertDevice));
    ESCROW_RETURN_IF_ERROR(BindDevice(*stmt, row));
    return stmt->Run();
  });
}

Status SqliteDevices::SetRotationPending(std::string_view device_id, bool pending,
                                         std::int64_t now_ms) {
  return ctx_.Run([&](Database& db) -> Status {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(queries::kSetRotationPending));
    ESCROW_RETURN_IF_ERROR(stmt->BindText(1, device_id));
    ESCROW_RETURN_IF_ERROR(stmt->BindBool(2, pending));
    ESCROW_RETURN_IF_ERROR(stmt->BindInt64(3, now_ms));
    ESCROW_RETURN_IF_ERROR(stmt->Run());
    return ExpectOneChange(db, "device");
  });
}

Result<std::vector<DeviceRow>> SqliteDevices::ListRotationOverdue(
    std::int64_t since_ms, std::optional<std::string_view> after, std::size_t limit) {
  return ctx_.Run([&](Database& db) -> Result<std::vector<DeviceRow>> {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(queries::kListRotationOverdue));
    ESCROW_RETURN_IF_ERROR(stmt->BindInt64(1, since_ms));
    ESCROW_RETURN_IF_ERROR(after ? stmt->BindText(2, *after) : stmt->BindNull(2));
    ESCROW_RETURN_IF_ERROR(stmt->BindCount(3, limit));
    return ReadAll<DeviceRow>(*stmt, ReadDevice);
  });
}

Result<std::int64_t> SqliteDevices::CountRotationOverdue(std::int64_t since_ms) {
  return ctx_.Run([&](Database& db) -> Result<std::int64_t> {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(queries::kCountRotationOverdue));
    ESCROW_RETURN_IF_ERROR(stmt->BindInt64(1, since_ms));
    ESCROW_ASSIGN_OR_RETURN(bool has_row, stmt->Step());
    if (!has_row) return Status::Internal("count(*) returned no row");
    return stmt->ColumnInt64(0);
  });
}

Result<std::vector<DeviceRow>> SqliteDevices::ListOverdueUnnoted(std::int64_t since_ms,
                                                                 std::size_t limit) {
  return ctx_.Run([&](Database& db) -> Result<std::vector<DeviceRow>> {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(queries::kListOverdueUnnoted));
    ESCROW_RETURN_IF_ERROR(stmt->BindInt64(1, since_ms));
    ESCROW_RETURN_IF_ERROR(stmt->BindCount(2, limit));
    return ReadAll<DeviceRow>(*stmt, ReadDevice);
  });
}

Status SqliteDevices::NoteRotationOverdue(std::string_view device_id, std::int64_t requested_ms) {
  return ctx_.Run([&](Database& db) -> Status {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(queries::kNoteRotationOverdue));
    ESCROW_RETURN_IF_ERROR(stmt->BindText(1, device_id));
    ESCROW_RETURN_IF_ERROR(stmt->BindInt64(2, requested_ms));
    ESCROW_RETURN_IF_ERROR(stmt->Run());
    if (db.changes() == 0) {
      return Status::FailedPrecondition("the device's overdue rotation changed or was noted");
    }
    return Status::Ok();
  });
}

Status SqliteDevices::SetCheckin(std::string_view device_id, std::int64_t when_ms) {
  return ctx_.Run([&](Database& db) -> Status {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(queries::kSetCheckin));
    ESCROW_RETURN_IF_ERROR(stmt->BindText(1, device_id));
    ESCROW_RETURN_IF_ERROR(stmt->BindInt64(2, when_ms));
    ESCROW_RETURN_IF_ERROR(stmt->Run());
    return ExpectOneChange(db, "device");
  });
}

}  // namespace escrow::storage
