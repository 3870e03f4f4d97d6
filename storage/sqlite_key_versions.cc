#include "storage/sqlite_key_versions.h"

#include "storage/database.h"
#include "storage/queries.h"
#include "storage/row_codec.h"

namespace escrow::storage {

Result<std::optional<KeyVersionRow>> SqliteKeyVersions::Get(std::string_view device_id,
                                                            std::uint32_t version) {
  return ctx_.Run([&](Database& db) -> Result<std::optional<KeyVersionRow>> {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(queries::kGetKeyVersion));
    ESCROW_RETURN_IF_ERROR(stmt->BindText(1, device_id));
    ESCROW_RETURN_IF_ERROR(stmt->BindUint32(2, version));
    return ReadOne<KeyVersionRow>(*stmt, ReadKeyVersion);
  });
}

Result<std::vector<KeyVersionRow>> SqliteKeyVersions::List(std::string_view device_id) {
  return ctx_.Run([&](Database& db) -> Result<std::vector<KeyVersionRow>> {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(queries::kListKeyVersions));
    ESCROW_RETURN_IF_ERROR(stmt->BindText(1, device_id));
    return ReadAll<KeyVersionRow>(*stmt, ReadKeyVersion);
  });
}

Result<std::optional<KeyVersionRow>> SqliteKeyVersions::Current(const DeviceRow& device) {
  return ctx_.Run([&](Database& db) -> Result<std::optional<KeyVersionRow>> {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(queries::kCurrentKeyVersion));
    ESCROW_RETURN_IF_ERROR(stmt->BindText(1, device.id));
    ESCROW_RETURN_IF_ERROR(BindPlatform(*stmt, 2, device.platform));
    ESCROW_RETURN_IF_ERROR(stmt->BindText(3, device.owner));
    return ReadOne<KeyVersionRow>(*stmt, ReadKeyVersion);
  });
}

Result<std::uint32_t> SqliteKeyVersions::LatestNumber(std::string_view device_id) {
  return ctx_.Run([&](Database& db) -> Result<std::uint32_t> {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(queries::kLatestKeyVersion));
    ESCROW_RETURN_IF_ERROR(stmt->BindText(1, device_id));
    ESCROW_ASSIGN_OR_RETURN(bool has_row, stmt->Step());
    if (!has_row) return Status::Internal("max(version) returned no row");
    return stmt->ColumnUint32(0);
  });
}

Result<std::vector<KeyVersionRow>> SqliteKeyVersions::ListBurned(std::string_view device_id) {
  return ctx_.Run([&](Database& db) -> Result<std::vector<KeyVersionRow>> {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(queries::kListBurnedKeyVersions));
    ESCROW_RETURN_IF_ERROR(stmt->BindText(1, device_id));
    return ReadAll<KeyVersionRow>(*stmt, ReadKeyVersion);
  });
}

Result<std::vector<KeyVersionRow>> SqliteKeyVersions::ListSealedUnder(
    std::uint32_t master_key_version, std::size_t limit,
    const std::optional<KeyVersionKey>& after) {
  return ctx_.Run([&](Database& db) -> Result<std::vector<KeyVersionRow>> {
    if (!after) {
      ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(queries::kListSealedUnder));
      ESCROW_RETURN_IF_ERROR(stmt->BindUint32(1, master_key_version));
      ESCROW_RETURN_IF_ERROR(stmt->BindCount(2, limit));
      return ReadAll<KeyVersionRow>(*stmt, ReadKeyVersion);
    }
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(queries::kListSealedUnderAfter));
    ESCROW_RETURN_IF_ERROR(stmt->BindUint32(1, master_key_version));
    ESCROW_RETURN_IF_ERROR(stmt->BindText(2, after->device_id));
    ESCROW_RETURN_IF_ERROR(stmt->BindUint32(3, after->version));
    ESCROW_RETURN_IF_ERROR(stmt->BindCount(4, limit));
    return ReadAll<KeyVersionRow>(*stmt, ReadKeyVersion);
  });
}

Result<std::vector<KeyVersionRow>> SqliteKeyVersions::ListUnfingerprinted(
    std::size_t limit, const std::optional<KeyVersionKey>& after) {
  return ctx_.Run([&](Database& db) -> Result<std::vector<KeyVersionRow>> {
    if (!after) {
      ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(queries::kListUnfingerprinted));
      ESCROW_RETURN_IF_ERROR(stmt->BindCount(1, limit));
      return ReadAll<KeyVersionRow>(*stmt, ReadKeyVersion);
    }
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(queries::kListUnfingerprintedAfter));
    ESCROW_RETURN_IF_ERROR(stmt->BindText(1, after->device_id));
    ESCROW_RETURN_IF_ERROR(stmt->BindUint32(2, after->version));
    ESCROW_RETURN_IF_ERROR(stmt->BindCount(3, limit));
    return ReadAll<KeyVersionRow>(*stmt, ReadKeyVersion);
  });
}

Result<std::vector<std::pair<std::uint32_t, std::int64_t>>> SqliteKeyVersions::CountByMasterKey() {
  using Counts = std::vector<std::pair<std::uint32_t, std::int64_t>>;
  return ctx_.Run([&](Database& db) -> Result<Counts> {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(queries::kCountByMasterKey));
    Counts counts;
    while (true) {
      ESCROW_ASSIGN_OR_RETURN(bool has_row, stmt->Step());
      if (!has_row) break;
      ESCROW_ASSIGN_OR_RETURN(std::uint32_t master_key_version, stmt->ColumnUint32(0));
      counts.emplace_back(master_key_version, stmt->ColumnInt64(1));
    }
    return counts;
  });
}

Status SqliteKeyVersions::Insert(const KeyVersionRow& row) {
  return ctx_.Run([&](Database& db) -> Status {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(queries::kInsertKeyVersion));
    ESCROW_RETURN_IF_ERROR(BindKeyVersion(*stmt, row));
    return stmt->Run();
  });
}

Status SqliteKeyVersions::SetState(std::string_view device_id, std::uint32_t version,
                                   VersionState state) {
  return ctx_.Run([&](Database& db) -> Status {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(queries::kSetKeyVersionState));
    ESCROW_RETURN_IF_ERROR(stmt->BindText(1, device_id));
    ESCROW_RETURN_IF_ERROR(stmt->BindUint32(2, version));
    ESCROW_RETURN_IF_ERROR(BindVersionState(*stmt, 3, state));
    ESCROW_RETURN_IF_ERROR(stmt->Run());
    return ExpectOneChange(db, "key version");
  });
}

Status SqliteKeyVersions::SetBurned(std::string_view device_id, std::uint32_t version) {
  return ctx_.Run([&](Database& db) -> Status {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(queries::kSetBurned));
    ESCROW_RETURN_IF_ERROR(stmt->BindText(1, device_id));
    ESCROW_RETURN_IF_ERROR(stmt->BindUint32(2, version));
    ESCROW_RETURN_IF_ERROR(stmt->Run());
    return ExpectOneChange(db, "key version");
  });
}

Status SqliteKeyVersions::SupersedeActive(std::string_view device_id) {
  Result<std::vector<std::uint32_t>> active =
      ctx_.Run([&](Database& db) -> Result<std::vector<std::uint32_t>> {
        ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(queries::kListActiveVersions));
        ESCROW_RETURN_IF_ERROR(stmt->BindText(1, device_id));
        return ReadAll<std::uint32_t>(*stmt,
                                      [](const Statement& row) { return row.ColumnUint32(0); });
      });
  if (!active.ok()) return active.status();
  for (const std::uint32_t version : *active) {
    ESCROW_RETURN_IF_ERROR(SetState(device_id, version, VersionState::kSuperseded));
  }
  return Status::Ok();
}

Status SqliteKeyVersions::BurnActive(std::string_view device_id) {
  return ctx_.Run([&](Database& db) -> Status {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(queries::kBurnActive));
    ESCROW_RETURN_IF_ERROR(stmt->BindText(1, device_id));
    return stmt->Run();
  });
}

Status SqliteKeyVersions::SetFingerprint(std::string_view device_id, std::uint32_t version,
                                         const Bytes& fingerprint, std::uint32_t key_version) {
  return ctx_.Run([&](Database& db) -> Status {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(queries::kSetFingerprint));
    ESCROW_RETURN_IF_ERROR(stmt->BindText(1, device_id));
    ESCROW_RETURN_IF_ERROR(stmt->BindUint32(2, version));
    ESCROW_RETURN_IF_ERROR(stmt->BindBlob(3, fingerprint));
    ESCROW_RETURN_IF_ERROR(stmt->BindUint32(4, key_version));
    ESCROW_RETURN_IF_ERROR(stmt->Run());
    return ExpectOneChange(db, "key version");
  });
}

Status SqliteKeyVersions::SetVerified(std::string_view device_id, std::uint32_t version,
                                      std::optional<std::int64_t> verified_ms) {
  return ctx_.Run([&](Database& db) -> Status {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(queries::kSetVerified));
    ESCROW_RETURN_IF_ERROR(stmt->BindText(1, device_id));
    ESCROW_RETURN_IF_ERROR(stmt->BindUint32(2, version));
    ESCROW_RETURN_IF_ERROR(verified_ms ? stmt->BindInt64(3, *verified_ms) : stmt->BindNull(3));
    ESCROW_RETURN_IF_ERROR(stmt->Run());
    return ExpectOneChange(db, "key version");
  });
}

Status SqliteKeyVersions::ReplaceSealed(std::string_view device_id, std::uint32_t version,
                                        std::uint32_t expected_old_master_version,
                                        std::uint32_t new_master_version, const Bytes& iv,
                                        const Bytes& ciphertext, const Bytes& tag) {
  return ctx_.Run([&](Database& db) -> Status {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(queries::kReplaceSealed));
    ESCROW_RETURN_IF_ERROR(stmt->BindText(1, device_id));
    ESCROW_RETURN_IF_ERROR(stmt->BindUint32(2, version));
    ESCROW_RETURN_IF_ERROR(stmt->BindUint32(3, expected_old_master_version));
    ESCROW_RETURN_IF_ERROR(stmt->BindUint32(4, new_master_version));
    ESCROW_RETURN_IF_ERROR(stmt->BindBlob(5, iv));
    ESCROW_RETURN_IF_ERROR(stmt->BindBlob(6, ciphertext));
    ESCROW_RETURN_IF_ERROR(stmt->BindBlob(7, tag));
    ESCROW_RETURN_IF_ERROR(stmt->Run());
    // Absent, or already re-sealed by a concurrent rotation: either way not this version.
    return ExpectOneChange(db, "key version under the expected master key version");
  });
}

Status SqliteKeyVersions::Destroy(std::string_view device_id, std::uint32_t version) {
  return ctx_.Run([&](Database& db) -> Status {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(queries::kDestroyKeyVersion));
    ESCROW_RETURN_IF_ERROR(stmt->BindText(1, device_id));
    ESCROW_RETURN_IF_ERROR(stmt->BindUint32(2, version));
    ESCROW_RETURN_IF_ERROR(stmt->Run());
    return ExpectOneChange(db, "superseded key version");
  });
}

}  // namespace escrow::storage
