#include "storage/row_codec.h"

#include <string>
#include <utility>

#include "storage/database.h"

namespace escrow::storage {
namespace {

template <class Enum>
Status BindEnum(Statement& stmt, int index, Enum value, std::string_view what,
                std::string_view (*name)(Enum), std::optional<Enum> (*parse)(std::string_view)) {
  const std::string_view text = name(value);
  if (!parse(text)) {
    return Status::InvalidArgument(std::string(stmt.name()) + ": unknown " + std::string(what));
  }
  return stmt.BindText(index, text);
}

// The column's text as an enum value; kDataLoss, naming the column, if it is none of ours.
template <class Enum>
Result<Enum> ColumnEnum(const Statement& stmt, int column, std::string_view what,
                        std::optional<Enum> (*parse)(std::string_view)) {
  std::optional<Enum> value = parse(stmt.ColumnText(column));
  if (!value) {
    return Status::DataLoss(std::string(stmt.name()) + ": a stored " + std::string(what) +
                            " is not one this code knows");
  }
  return *value;
}

}  // namespace

Status BindPlatform(Statement& stmt, int index, Platform value) {
  return BindEnum(stmt, index, value, "platform", PlatformName, ParsePlatform);
}

Status BindOwnership(Statement& stmt, int index, Ownership value) {
  return BindEnum(stmt, index, value, "ownership", OwnershipName, ParseOwnership);
}

Status BindVersionState(Statement& stmt, int index, VersionState value) {
  return BindEnum(stmt, index, value, "version state", VersionStateName, ParseVersionState);
}

Status BindPrincipalKind(Statement& stmt, int index, PrincipalKind value) {
  return BindEnum(stmt, index, value, "principal kind", PrincipalKindName, ParsePrincipalKind);
}

Status BindKeySource(Statement& stmt, int index, KeySource value) {
  return BindEnum(stmt, index, value, "key source", KeySourceName, ParseKeySource);
}

Status BindDevice(Statement& stmt, const DeviceRow& row) {
  ESCROW_RETURN_IF_ERROR(stmt.BindText(1, row.id));
  ESCROW_RETURN_IF_ERROR(stmt.BindText(2, row.serial));
  ESCROW_RETURN_IF_ERROR(stmt.BindText(3, row.name));
  ESCROW_RETURN_IF_ERROR(BindPlatform(stmt, 4, row.platform));
  ESCROW_RETURN_IF_ERROR(BindOwnership(stmt, 5, row.ownership));
  ESCROW_RETURN_IF_ERROR(stmt.BindText(6, row.owner));
  ESCROW_RETURN_IF_ERROR(stmt.BindBool(7, row.encryption_enabled));
  ESCROW_RETURN_IF_ERROR(stmt.BindBool(8, row.rotation_pending));
  ESCROW_RETURN_IF_ERROR(row.last_checkin_ms ? stmt.BindInt64(9, *row.last_checkin_ms)
                                             : stmt.BindNull(9));
  ESCROW_RETURN_IF_ERROR(stmt.BindInt64(10, row.created_ms));
  ESCROW_RETURN_IF_ERROR(stmt.BindInt64(11, row.updated_ms));
  ESCROW_RETURN_IF_ERROR(row.rotation_requested_ms ? stmt.BindInt64(12, *row.rotation_requested_ms)
                                                   : stmt.BindNull(12));
  return stmt.BindBool(13, row.rotation_overdue_noted);
}

Result<DeviceRow> ReadDevice(const Statement& stmt) {
  DeviceRow row;
  row.id = stmt.ColumnText(0);
  row.serial = stmt.ColumnText(1);
  row.name = stmt.ColumnText(2);
  ESCROW_ASSIGN_OR_RETURN(row.platform, ColumnEnum(stmt, 3, "platform", ParsePlatform));
  ESCROW_ASSIGN_OR_RETURN(row.ownership, ColumnEnum(stmt, 4, "ownership", ParseOwnership));
  row.owner = stmt.ColumnText(5);
  row.encryption_enabled = stmt.ColumnBool(6);
  row.rotation_pending = stmt.ColumnBool(7);
  if (!stmt.ColumnIsNull(8)) row.last_checkin_ms = stmt.ColumnInt64(8);
  row.created_ms = stmt.ColumnInt64(9);
  row.updated_ms = stmt.ColumnInt64(10);
  if (!stmt.ColumnIsNull(11)) row.rotation_requested_ms = stmt.ColumnInt64(11);
  row.rotation_overdue_noted = stmt.ColumnBool(12);
  return row;
}

Status BindKeyVersion(Statement& stmt, const KeyVersionRow& row) {
  ESCROW_RETURN_IF_ERROR(stmt.BindText(1, row.device_id));
  ESCROW_RETURN_IF_ERROR(stmt.BindUint32(2, row.version));
  ESCROW_RETURN_IF_ERROR(BindPlatform(stmt, 3, row.kind));
  ESCROW_RETURN_IF_ERROR(stmt.BindText(4, row.owner));
  ESCROW_RETURN_IF_ERROR(BindOwnership(stmt, 5, row.ownership));
  ESCROW_RETURN_IF_ERROR(stmt.BindUint32(6, row.master_key_version));
  ESCROW_RETURN_IF_ERROR(stmt.BindBlob(7, row.iv));
  ESCROW_RETURN_IF_ERROR(stmt.BindBlob(8, row.ciphertext));
  ESCROW_RETURN_IF_ERROR(stmt.BindBlob(9, row.tag));
  ESCROW_RETURN_IF_ERROR(BindVersionState(stmt, 10, row.state));
  ESCROW_RETURN_IF_ERROR(stmt.BindInt64(11, row.stored_ms));
  ESCROW_RETURN_IF_ERROR(stmt.BindText(12, row.stored_by));
  ESCROW_RETURN_IF_ERROR(stmt.BindBool(13, row.burned));
  if (!row.fingerprint) {
    ESCROW_RETURN_IF_ERROR(stmt.BindNull(14));
    ESCROW_RETURN_IF_ERROR(stmt.BindNull(15));
  } else {
    ESCROW_RETURN_IF_ERROR(stmt.BindBlob(14, *row.fingerprint));
    ESCROW_RETURN_IF_ERROR(stmt.BindUint32(15, row.fingerprint_key_version));
  }
  ESCROW_RETURN_IF_ERROR(row.stored_by_kind ? BindPrincipalKind(stmt, 16, *row.stored_by_kind)
                                            : stmt.BindNull(16));
  ESCROW_RETURN_IF_ERROR(row.key_id ? stmt.BindText(17, *row.key_id) : stmt.BindNull(17));
  ESCROW_RETURN_IF_ERROR(row.source ? BindKeySource(stmt, 18, *row.source) : stmt.BindNull(18));
  return row.verified_ms ? stmt.BindInt64(19, *row.verified_ms) : stmt.BindNull(19);
}

Result<KeyVersionRow> ReadKeyVersion(const Statement& stmt) {
  KeyVersionRow row;
  row.device_id = stmt.ColumnText(0);
  ESCROW_ASSIGN_OR_RETURN(row.version, stmt.ColumnUint32(1));
  ESCROW_ASSIGN_OR_RETURN(row.kind, ColumnEnum(stmt, 2, "kind", ParsePlatform));
  row.owner = stmt.ColumnText(3);
  ESCROW_ASSIGN_OR_RETURN(row.ownership, ColumnEnum(stmt, 4, "ownership", ParseOwnership));
  ESCROW_ASSIGN_OR_RETURN(row.master_key_version, stmt.ColumnUint32(5));
  row.iv = stmt.ColumnBlob(6);
  row.ciphertext = stmt.ColumnBlob(7);
  row.tag = stmt.ColumnBlob(8);
  ESCROW_ASSIGN_OR_RETURN(row.state, ColumnEnum(stmt, 9, "version state", ParseVersionState));
  row.stored_ms = stmt.ColumnInt64(10);
  row.stored_by = stmt.ColumnText(11);
  row.burned = stmt.ColumnBool(12);
  if (!stmt.ColumnIsNull(13)) {
    row.fingerprint = stmt.ColumnBlob(13);
    ESCROW_ASSIGN_OR_RETURN(row.fingerprint_key_version, stmt.ColumnUint32(14));
  }
  if (!stmt.ColumnIsNull(15)) {
    ESCROW_ASSIGN_OR_RETURN(row.stored_by_kind,
                            ColumnEnum(stmt, 15, "stored_by kind", ParsePrincipalKind));
  }
  if (!stmt.ColumnIsNull(16)) row.key_id = stmt.ColumnText(16);
  if (!stmt.ColumnIsNull(17)) {
    ESCROW_ASSIGN_OR_RETURN(row.source, ColumnEnum(stmt, 17, "source", ParseKeySource));
  }
  if (!stmt.ColumnIsNull(18)) row.verified_ms = stmt.ColumnInt64(18);
  return row;
}

Status BindDeviceState(Statement& stmt, const DeviceStateRow& row) {
  ESCROW_RETURN_IF_ERROR(stmt.BindText(1, row.device_id));
  ESCROW_RETURN_IF_ERROR(stmt.BindUint32(2, row.current_version));
  ESCROW_RETURN_IF_ERROR(stmt.BindBool(3, row.rotation_pending));
  ESCROW_RETURN_IF_ERROR(stmt.BindBlob(4, row.burned));
  ESCROW_RETURN_IF_ERROR(stmt.BindUint64(5, row.audit_seq));
  ESCROW_RETURN_IF_ERROR(stmt.BindBlob(6, row.audit_hash));
  ESCROW_RETURN_IF_ERROR(stmt.BindUint32(7, row.state_key_version));
  ESCROW_RETURN_IF_ERROR(stmt.BindBlob(8, row.mac));
  return stmt.BindBool(9, row.rotation_command_sent);
}

Result<DeviceStateRow> ReadDeviceState(const Statement& stmt) {
  DeviceStateRow row;
  row.device_id = stmt.ColumnText(0);
  ESCROW_ASSIGN_OR_RETURN(row.current_version, stmt.ColumnUint32(1));
  row.rotation_pending = stmt.ColumnBool(2);
  row.burned = stmt.ColumnBlob(3);
  ESCROW_ASSIGN_OR_RETURN(row.audit_seq, stmt.ColumnUint64(4));
  row.audit_hash = stmt.ColumnBlob(5);
  ESCROW_ASSIGN_OR_RETURN(row.state_key_version, stmt.ColumnUint32(6));
  row.mac = stmt.ColumnBlob(7);
  row.rotation_command_sent = stmt.ColumnBool(8);
  return row;
}

Status BindAudit(Statement& stmt, const AuditRow& row) {
  ESCROW_RETURN_IF_ERROR(stmt.BindUint64(1, row.seq));
  ESCROW_RETURN_IF_ERROR(stmt.BindInt64(2, row.time_ms));
  ESCROW_RETURN_IF_ERROR(stmt.BindText(3, row.actor));
  ESCROW_RETURN_IF_ERROR(stmt.BindText(4, row.role));
  ESCROW_RETURN_IF_ERROR(stmt.BindText(5, row.action));
  ESCROW_RETURN_IF_ERROR(stmt.BindText(6, row.device_id));
  ESCROW_RETURN_IF_ERROR(stmt.BindText(7, row.outcome));
  ESCROW_RETURN_IF_ERROR(stmt.BindText(8, row.reason));
  ESCROW_RETURN_IF_ERROR(stmt.BindText(9, row.detail));
  ESCROW_RETURN_IF_ERROR(stmt.BindBlob(10, row.hash));
  ESCROW_RETURN_IF_ERROR(row.mac ? stmt.BindBlob(11, *row.mac) : stmt.BindNull(11));
  return stmt.BindUint32(12, row.audit_key_version);
}

Result<AuditRow> ReadAudit(const Statement& stmt) {
  AuditRow row;
  ESCROW_ASSIGN_OR_RETURN(row.seq, stmt.ColumnUint64(0));
  row.time_ms = stmt.ColumnInt64(1);
  row.actor = stmt.ColumnText(2);
  row.role = stmt.ColumnText(3);
  row.action = stmt.ColumnText(4);
  row.device_id = stmt.ColumnText(5);
  row.outcome = stmt.ColumnText(6);
  row.reason = stmt.ColumnText(7);
  row.detail = stmt.ColumnText(8);
  row.hash = stmt.ColumnBlob(9);
  if (!stmt.ColumnIsNull(10)) row.mac = stmt.ColumnBlob(10);
  ESCROW_ASSIGN_OR_RETURN(row.audit_key_version, stmt.ColumnUint32(11));
  return row;
}

Result<QuotaWindow> ReadQuotaWindow(const Statement& stmt) {
  QuotaWindow window;
  window.count = stmt.ColumnInt64(0);
  if (!stmt.ColumnIsNull(1)) window.oldest_ms = stmt.ColumnInt64(1);
  return window;
}

Status ExpectOneChange(const Database& db, std::string_view what) {
  if (db.changes() == 0) return Status::NotFound(std::string(what) + " not found");
  return Status::Ok();
}

}  // namespace escrow::storage
