#include "storage/pg_row_codec.h"
#include "storage/pg_stores.h"

namespace escrow::storage {
namespace {

#define PG_KEY_VERSION_COLUMNS                                                                 \
  "device_id, version, kind, owner, ownership, master_key_version, iv, ciphertext, tag, "       \
  "state, stored_ms, stored_by, burned, fingerprint, fingerprint_key_version, stored_by_kind, " \
  "key_id, source, verified_ms"

constexpr Query kGet{"get key version",
                     "SELECT " PG_KEY_VERSION_COLUMNS
                     " FROM key_versions WHERE device_id = $1 AND version = $2"};
constexpr Query kList{"list key versions",
                      "SELECT " PG_KEY_VERSION_COLUMNS
                      " FROM key_versions WHERE device_id = $1 ORDER BY version"};
// The newest active version for the present platform and owner, through the partial index
// of active versions (migration 3).
constexpr Query kCurrent{"get current key version",
                         "SELECT " PG_KEY_VERSION_COLUMNS
                         " FROM key_versions WHERE device_id = $1 AND state = 'active' AND "
                         "kind = $2 AND owner = $3 ORDER BY version DESC LIMIT 1"};
constexpr Query kLatest{"get latest key version number",
                        "SELECT coalesce(max(version), 0) FROM key_versions WHERE device_id = $1"};
constexpr Query kListBurned{"list burned key versions",
                            "SELECT " PG_KEY_VERSION_COLUMNS
                            " FROM key_versions WHERE device_id = $1 AND burned AND "
                            "state <> 'destroyed' ORDER BY version"};
constexpr Query kListSealedUnder{"list sealed under master key",
                                 "SELECT " PG_KEY_VERSION_COLUMNS
                                 " FROM key_versions WHERE master_key_version = $1 "
                                 "ORDER BY device_id, version LIMIT $2"};
constexpr Query kListSealedUnderAfter{
    "list sealed under master key after a row",
    "SELECT " PG_KEY_VERSION_COLUMNS
    " FROM key_versions WHERE master_key_version = $1 AND (device_id, version) > "
    "($2::text, $3::bigint) ORDER BY device_id, version LIMIT $4"};
constexpr Query kListUnfingerprinted{"list key versions without a fingerprint",
                                     "SELECT " PG_KEY_VERSION_COLUMNS
                                     " FROM key_versions WHERE fingerprint IS NULL "
                                     "ORDER BY device_id, version LIMIT $1"};
constexpr Query kListUnfingerprintedAfter{
    "list key versions without a fingerprint after a row",
    "SELECT " PG_KEY_VERSION_COLUMNS
    " FROM key_versions WHERE fingerprint IS NULL AND (device_id, version) > "
    "($1::text, $2::bigint) ORDER BY device_id, version LIMIT $3"};
// Kept by the count triggers (migration 2). Master key 0 is that of destroyed versions.
constexpr Query kCountByMasterKey{
    "count key versions by master key",
    "SELECT master_key_version, count FROM key_version_counts WHERE count > 0 AND "
    "master_key_version > 0 ORDER BY master_key_version"};
constexpr Query kInsert{"insert key version",
                        "INSERT INTO key_versions (" PG_KEY_VERSION_COLUMNS
                        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, "
                        "$15, $16, $17, $18, $19)"};
constexpr Query kSetState{"set key version state",
                          "UPDATE key_versions SET state = $3 WHERE device_id = $1 AND "
                          "version = $2"};
constexpr Query kSupersedeActive{"supersede active key versions",
                                 "UPDATE key_versions SET state = 'superseded' "
                                 "WHERE device_id = $1 AND state = 'active'"};
constexpr Query kBurnActive{"burn active key versions",
                            "UPDATE key_versions SET burned = true "
                            "WHERE device_id = $1 AND state = 'active' AND NOT burned"};
constexpr Query kSetBurned{"burn key version",
                           "UPDATE key_versions SET burned = true WHERE device_id = $1 AND "
                           "version = $2"};
constexpr Query kReplaceSealed{
    "replace sealed key version",
    "UPDATE key_versions SET master_key_version = $4, iv = $5, ciphertext = $6, tag = $7 "
    "WHERE device_id = $1 AND version = $2 AND master_key_version = $3"};
// PostgreSQL has no secure_delete: the old row version stays in the table file until VACUUM
// and page reuse overwrite it (and in WAL and backups). It holds ciphertext only.
constexpr Query kDestroy{
    "destroy key version",
    "UPDATE key_versions SET state = 'destroyed', master_key_version = 0, "
    "iv = decode(repeat('00', 12), 'hex'), ciphertext = ''::bytea, "
    "tag = decode(repeat('00', 16), 'hex') WHERE device_id = $1 AND version = $2 AND "
    "state = 'superseded'"};
constexpr Query kSetFingerprint{"set key version fingerprint",
                                "UPDATE key_versions SET fingerprint = $3, "
                                "fingerprint_key_version = $4 WHERE device_id = $1 AND "
                                "version = $2"};
constexpr Query kSetVerified{"set key version verified",
                             "UPDATE key_versions SET verified_ms = $3 WHERE device_id = $1 AND "
                             "version = $2"};

#undef PG_KEY_VERSION_COLUMNS

}  // namespace

Result<std::optional<KeyVersionRow>> PgKeyVersions::Get(std::string_view device_id,
                                                        std::uint32_t version) {
  PgParams params;
  params.Text(device_id).Uint32(version);
  ESCROW_ASSIGN_OR_RETURN(PgResult result, ctx_.Read(kGet, params));
  return ReadPgOne<KeyVersionRow>(result, ReadPgKeyVersion);
}

Result<std::vector<KeyVersionRow>> PgKeyVersions::List(std::string_view device_id) {
  PgParams params;
  params.Text(device_id);
  ESCROW_ASSIGN_OR_RETURN(PgResult result, ctx_.Read(kList, params));
  return ReadPgAll<KeyVersionRow>(result, ReadPgKeyVersion);
}

Result<std::optional<KeyVersionRow>> PgKeyVersions::Current(const DeviceRow& device) {
  PgParams params;
  params.Text(device.id);
  ESCROW_RETURN_IF_ERROR(Named(AddPgPlatform(params, device.platform), kCurrent));
  params.Text(device.owner);
  ESCROW_ASSIGN_OR_RETURN(PgResult result, ctx_.Read(kCurrent, params));
  return ReadPgOne<KeyVersionRow>(result, ReadPgKeyVersion);
}

Result<std::uint32_t> PgKeyVersions::LatestNumber(std::string_view device_id) {
  PgParams params;
  params.Text(device_id);
  ESCROW_ASSIGN_OR_RETURN(PgResult result, ctx_.Read(kLatest, params));
  if (result.rows() != 1) return Status::Internal("max(version) returned no row");
  return result.Uint32(0, 0);
}

Result<std::vector<KeyVersionRow>> PgKeyVersions::ListBurned(std::string_view device_id) {
  PgParams params;
  params.Text(device_id);
  ESCROW_ASSIGN_OR_RETURN(PgResult result, ctx_.Read(kListBurned, params));
  return ReadPgAll<KeyVersionRow>(result, ReadPgKeyVersion);
}

Result<std::vector<KeyVersionRow>> PgKeyVersions::ListSealedUnder(
    std::uint32_t master_key_version, std::size_t limit,
    const std::optional<KeyVersionKey>& after) {
  PgParams params;
  params.Uint32(master_key_version);
  if (after) params.Text(after->device_id).Uint32(after->version);
  params.Count(limit);
  ESCROW_ASSIGN_OR_RETURN(PgResult result,
                          ctx_.Read(after ? kListSealedUnderAfter : kListSealedUnder, params));
  return ReadPgAll<KeyVersionRow>(result, ReadPgKeyVersion);
}

Result<std::vector<KeyVersionRow>> PgKeyVersions::ListUnfingerprinted(
    std::size_t limit, const std::optional<KeyVersionKey>& after) {
  PgParams params;
  if (after) params.Text(after->device_id).Uint32(after->version);
  params.Count(limit);
  ESCROW_ASSIGN_OR_RETURN(
      PgResult result,
      ctx_.Read(after ? kListUnfingerprintedAfter : kListUnfingerprinted, params));
  return ReadPgAll<KeyVersionRow>(result, ReadPgKeyVersion);
}

Result<std::vector<std::pair<std::uint32_t, std::int64_t>>> PgKeyVersions::CountByMasterKey() {
  ESCROW_ASSIGN_OR_RETURN(PgResult result, ctx_.Read(kCountByMasterKey));
  std::vector<std::pair<std::uint32_t, std::int64_t>> counts;
  for (int i = 0; i < result.rows(); ++i) {
    ESCROW_ASSIGN_OR_RETURN(std::uint32_t master_key_version, result.Uint32(i, 0));
    ESCROW_ASSIGN_OR_RETURN(std::int64_t count, result.Int64(i, 1));
    counts.emplace_back(master_key_version, count);
  }
  return counts;
}

Status PgKeyVersions::Insert(const KeyVersionRow& row) {
  PgParams params;
  ESCROW_RETURN_IF_ERROR(Named(AddPgKeyVersion(params, row), kInsert));
  return ctx_.Change(kInsert, params).status();
}

Status PgKeyVersions::SetState(std::string_view device_id, std::uint32_t version,
                               VersionState state) {
  PgParams params;
  params.Text(device_id).Uint32(version);
  ESCROW_RETURN_IF_ERROR(Named(AddPgVersionState(params, state), kSetState));
  ESCROW_ASSIGN_OR_RETURN(PgResult result, ctx_.Change(kSetState, params));
  return ExpectPgOneChange(result, "key version");
}

Status PgKeyVersions::SetBurned(std::string_view device_id, std::uint32_t version) {
  PgParams params;
  params.Text(device_id).Uint32(version);
  ESCROW_ASSIGN_OR_RETURN(PgResult result, ctx_.Change(kSetBurned, params));
  return ExpectPgOneChange(result, "key version");
}

Status PgKeyVersions::SupersedeActive(std::string_view device_id) {
  PgParams params;
  params.Text(device_id);
  return ctx_.Change(kSupersedeActive, params).status();
}

Status PgKeyVersions::BurnActive(std::string_view device_id) {
  PgParams params;
  params.Text(device_id);
  return ctx_.Change(kBurnActive, params).status();
}

Status PgKeyVersions::SetFingerprint(std::string_view device_id, std::uint32_t version,
                                     const Bytes& fingerprint, std::uint32_t key_version) {
  PgParams params;
  params.Text(device_id).Uint32(version).Blob(fingerprint).Uint32(key_version);
  ESCROW_ASSIGN_OR_RETURN(PgResult result, ctx_.Change(kSetFingerprint, params));
  return ExpectPgOneChange(result, "key version");
}

Status PgKeyVersions::SetVerified(std::string_view device_id, std::uint32_t version,
                                  std::optional<std::int64_t> verified_ms) {
  PgParams params;
  params.Text(device_id).Uint32(version);
  params.OptionalInt64(verified_ms);
  ESCROW_ASSIGN_OR_RETURN(PgResult result, ctx_.Change(kSetVerified, params));
  return ExpectPgOneChange(result, "key version");
}

Status PgKeyVersions::ReplaceSealed(std::string_view device_id, std::uint32_t version,
                                    std::uint32_t expected_old_master_version,
                                    std::uint32_t new_master_version, const Bytes& iv,
                                    const Bytes& ciphertext, const Bytes& tag) {
  PgParams params;
  params.Text(device_id).Uint32(version).Uint32(expected_old_master_version);
  params.Uint32(new_master_version).Blob(iv).Blob(ciphertext).Blob(tag);
  ESCROW_ASSIGN_OR_RETURN(PgResult result, ctx_.Change(kReplaceSealed, params));
  // Absent, or already re-sealed by a concurrent rotation: either way not this version.
  return ExpectPgOneChange(result, "key version under the expected master key version");
}

Status PgKeyVersions::Destroy(std::string_view device_id, std::uint32_t version) {
  PgParams params;
  params.Text(device_id).Uint32(version);
  ESCROW_ASSIGN_OR_RETURN(PgResult result, ctx_.Change(kDestroy, params));
  return ExpectPgOneChange(result, "superseded key version");
}

}  // namespace escrow::storage
