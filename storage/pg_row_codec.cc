#include "storage/pg_row_codec.h"

#include <string>

namespace escrow::storage {
namespace {

template <class Enum>
Status AddEnum(PgParams& params, Enum value, std::string_view what,
               std::string_view (*name)(Enum), std::optional<Enum> (*parse)(std::string_view)) {
  const std::string_view text = name(value);
  if (!parse(text)) return Status::InvalidArgument("unknown " + std::string(what));
  params.Text(text);
  return Status::Ok();
}

template <class Enum>
Result<Enum> ColumnEnum(const PgResult& result, int row, int column, std::string_view what,
                        std::optional<Enum> (*parse)(std::string_view)) {
  std::optional<Enum> value = parse(result.Text(row, column));
  if (!value) {
    return Status::DataLoss(std::string(result.name()) + ": a stored " + std::string(what) +
                            " is not one this code knows");
  }
  return *value;
}

}  // namespace

Status AddPgPlatform(PgParams& params, Platform value) {
  return AddEnum(params, value, "platform", PlatformName, ParsePlatform);
}

Status AddPgVersionState(PgParams& params, VersionState value) {
  return AddEnum(params, value, "version state", VersionStateName, ParseVersionState);
}

Status AddPgDevice(PgParams& params, const DeviceRow& row) {
  params.Text(row.id).Text(row.serial).Text(row.name);
  ESCROW_RETURN_IF_ERROR(AddPgPlatform(params, row.platform));
  ESCROW_RETURN_IF_ERROR(AddEnum(params, row.ownership, "ownership", OwnershipName,
                                 ParseOwnership));
  params.Text(row.owner).Bool(row.encryption_enabled).Bool(row.rotation_pending);
  params.OptionalInt64(row.last_checkin_ms);
  params.Int64(row.created_ms).Int64(row.updated_ms);
  params.OptionalInt64(row.rotation_requested_ms);
  params.Bool(row.rotation_overdue_noted);
  return Status::Ok();
}

Result<DeviceRow> ReadPgDevice(const PgResult& result, int r) {
  DeviceRow row;
  row.id = result.Text(r, 0);
  row.serial = result.Text(r, 1);
  row.name = result.Text(r, 2);
  ESCROW_ASSIGN_OR_RETURN(row.platform, ColumnEnum(result, r, 3, "platform", ParsePlatform));
  ESCROW_ASSIGN_OR_RETURN(row.ownership, ColumnEnum(result, r, 4, "ownership", ParseOwnership));
  row.owner = result.Text(r, 5);
  ESCROW_ASSIGN_OR_RETURN(row.encryption_enabled, result.Bool(r, 6));
  ESCROW_ASSIGN_OR_RETURN(row.rotation_pending, result.Bool(r, 7));
  if (!result.IsNull(r, 8)) {
    ESCROW_ASSIGN_OR_RETURN(row.last_checkin_ms, result.Int64(r, 8));
  }
  ESCROW_ASSIGN_OR_RETURN(row.created_ms, result.Int64(r, 9));
  ESCROW_ASSIGN_OR_RETURN(row.updated_ms, result.Int64(r, 10));
  if (!result.IsNull(r, 11)) {
    ESCROW_ASSIGN_OR_RETURN(row.rotation_requested_ms, result.Int64(r, 11));
  }
  ESCROW_ASSIGN_OR_RETURN(row.rotation_overdue_noted, result.Bool(r, 12));
  return row;
}

Status AddPgKeyVersion(PgParams& params, const KeyVersionRow& row) {
  params.Text(row.device_id).Uint32(row.version);
  ESCROW_RETURN_IF_ERROR(AddPgPlatform(params, row.kind));
  params.Text(row.owner);
  ESCROW_RETURN_IF_ERROR(AddEnum(params, row.ownership, "ownership", OwnershipName,
                                 ParseOwnership));
  params.Uint32(row.master_key_version).Blob(row.iv).Blob(row.ciphertext).Blob(row.tag);
  ESCROW_RETURN_IF_ERROR(AddPgVersionState(params, row.state));
  params.Int64(row.stored_ms).Text(row.stored_by).Bool(row.burned);
  if (row.fingerprint) {
    params.Blob(*row.fingerprint).Uint32(row.fingerprint_key_version);
  } else {
    params.Null().Null();
  }
  if (row.stored_by_kind) {
    ESCROW_RETURN_IF_ERROR(AddEnum(params, *row.stored_by_kind, "principal kind",
                                   PrincipalKindName, ParsePrincipalKind));
  } else {
    params.Null();
  }
  params.OptionalText(row.key_id);
  if (row.source) {
    ESCROW_RETURN_IF_ERROR(
        AddEnum(params, *row.source, "key source", KeySourceName, ParseKeySource));
  } else {
    params.Null();
  }
  params.OptionalInt64(row.verified_ms);
  return Status::Ok();
}

Result<KeyVersionRow> ReadPgKeyVersion(const PgResult& result, int r) {
  KeyVersionRow row;
  row.device_id = result.Text(r, 0);
  ESCROW_ASSIGN_OR_RETURN(row.version, result.Uint32(r, 1));
  ESCROW_ASSIGN_OR_RETURN(row.kind, ColumnEnum(result, r, 2, "kind", ParsePlatform));
  row.owner = result.Text(r, 3);
  ESCROW_ASSIGN_OR_RETURN(row.ownership, ColumnEnum(result, r, 4, "ownership", ParseOwnership));
  ESCROW_ASSIGN_OR_RETURN(row.master_key_version, result.Uint32(r, 5));
  ESCROW_ASSIGN_OR_RETURN(row.iv, result.Blob(r, 6));
  ESCROW_ASSIGN_OR_RETURN(row.ciphertext, result.Blob(r, 7));
  ESCROW_ASSIGN_OR_RETURN(row.tag, result.Blob(r, 8));
  ESCROW_ASSIGN_OR_RETURN(row.state,
                          ColumnEnum(result, r, 9, "version state", ParseVersionState));
  ESCROW_ASSIGN_OR_RETURN(row.stored_ms, result.Int64(r, 10));
  row.stored_by = result.Text(r, 11);
  ESCROW_ASSIGN_OR_RETURN(row.burned, result.Bool(r, 12));
  if (!result.IsNull(r, 13)) {
    ESCROW_ASSIGN_OR_RETURN(row.fingerprint, result.Blob(r, 13));
    ESCROW_ASSIGN_OR_RETURN(row.fingerprint_key_version, result.Uint32(r, 14));
  }
  if (!result.IsNull(r, 15)) {
    ESCROW_ASSIGN_OR_RETURN(row.stored_by_kind,
                            ColumnEnum(result, r, 15, "stored_by kind", ParsePrincipalKind));
  }
  if (!result.IsNull(r, 16)) row.key_id = result.Text(r, 16);
  if (!result.IsNull(r, 17)) {
    ESCROW_ASSIGN_OR_RETURN(row.source, ColumnEnum(result, r, 17, "source", ParseKeySource));
  }
  if (!result.IsNull(r, 18)) {
    ESCROW_ASSIGN_OR_RETURN(row.verified_ms, result.Int64(r, 18));
  }
  return row;
}

void AddPgDeviceState(PgParams& params, const DeviceStateRow& row) {
  params.Text(row.device_id).Uint32(row.current_version).Bool(row.rotation_pending);
  params.Blob(row.burned).Uint64Clamped(row.audit_seq).Blob(row.audit_hash);
  params.Uint32(row.state_key_version).Blob(row.mac).Bool(row.rotation_command_sent);
}

Result<DeviceStateRow> ReadPgDeviceState(const PgResult& result, int r) {
  DeviceStateRow row;
  row.device_id = result.Text(r, 0);
  ESCROW_ASSIGN_OR_RETURN(row.current_version, result.Uint32(r, 1));
  ESCROW_ASSIGN_OR_RETURN(row.rotation_pending, result.Bool(r, 2));
  ESCROW_ASSIGN_OR_RETURN(row.burned, result.Blob(r, 3));
  ESCROW_ASSIGN_OR_RETURN(row.audit_seq, result.Uint64(r, 4));
  ESCROW_ASSIGN_OR_RETURN(row.audit_hash, result.Blob(r, 5));
  ESCROW_ASSIGN_OR_RETURN(row.state_key_version, result.Uint32(r, 6));
  ESCROW_ASSIGN_OR_RETURN(row.mac, result.Blob(r, 7));
  ESCROW_ASSIGN_OR_RETURN(row.rotation_command_sent, result.Bool(r, 8));
  return row;
}

void AddPgAudit(PgParams& params, const AuditRow& row) {
  params.Uint64Clamped(row.seq).Int64(row.time_ms).Text(row.actor).Text(row.role);
  params.Text(row.action).Text(row.device_id).Text(row.outcome).Text(row.reason);
  params.Text(row.detail).Blob(row.hash);
  if (row.mac) {
    params.Blob(*row.mac);
  } else {
    params.Null();
  }
  params.Uint32(row.audit_key_version);
}

Result<AuditRow> ReadPgAudit(const PgResult& result, int r) {
  AuditRow row;
  ESCROW_ASSIGN_OR_RETURN(row.seq, result.Uint64(r, 0));
  ESCROW_ASSIGN_OR_RETURN(row.time_ms, result.Int64(r, 1));
  row.actor = result.Text(r, 2);
  row.role = result.Text(r, 3);
  row.action = result.Text(r, 4);
  row.device_id = result.Text(r, 5);
  row.outcome = result.Text(r, 6);
  row.reason = result.Text(r, 7);
  row.detail = result.Text(r, 8);
  ESCROW_ASSIGN_OR_RETURN(row.hash, result.Blob(r, 9));
  if (!result.IsNull(r, 10)) {
    ESCROW_ASSIGN_OR_RETURN(row.mac, result.Blob(r, 10));
  }
  ESCROW_ASSIGN_OR_RETURN(row.audit_key_version, result.Uint32(r, 11));
  return row;
}

Status ExpectPgOneChange(const PgResult& result, std::string_view what) {
  if (result.affected() == 0) return Status::NotFound(std::string(what) + " not found");
  return Status::Ok();
}

}  // namespace escrow::storage
