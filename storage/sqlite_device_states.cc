#include "storage/sqlite_device_states.h"

#include "storage/database.h"
#include "storage/queries.h"
#include "storage/row_codec.h"

namespace escrow::storage {

Result<std::optional<DeviceStateRow>> SqliteDeviceStates::Get(std::string_view device_id) {
  return ctx_.Run([&](Database& db) -> Result<std::optional<DeviceStateRow>> {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(queries::kGetDeviceState));
    ESCROW_RETURN_IF_ERROR(stmt->BindText(1, device_id));
    return ReadOne<DeviceStateRow>(*stmt, ReadDeviceState);
  });
}

Result<std::vector<DeviceStateRow>> SqliteDeviceStates::List(
    std::size_t limit, std::optional<std::string_view> after) {
  return ctx_.Run([&](Database& db) -> Result<std::vector<DeviceStateRow>> {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(after ? queries::kListDeviceStatesAfter
                                                                  : queries::kListDeviceStates));
    ESCROW_RETURN_IF_ERROR(stmt->BindCount(1, limit));
    if (after) ESCROW_RETURN_IF_ERROR(stmt->BindText(2, *after));
    return ReadAll<DeviceStateRow>(*stmt, ReadDeviceState);
  });
}

Status SqliteDeviceStates::Put(const DeviceStateRow& row) {
  return ctx_.Run([&](Database& db) -> Status {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(queries::kPutDeviceState));
    ESCROW_RETURN_IF_ERROR(BindDeviceState(*stmt, row));
    return stmt->Run();
  });
}

}  // namespace escrow::storage
