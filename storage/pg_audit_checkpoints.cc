// Signed audit checkpoints and the signing keys' public keys on PostgreSQL
// (PgAuditCheckpoints), as sqlite_audit_checkpoints.cc on SQLite.

#include "storage/pg_row_codec.h"
#include "storage/pg_stores.h"

namespace escrow::storage {
namespace {

constexpr Query kList{"list audit checkpoints",
                      "SELECT seq, hash, at_ms, key_version, signature FROM audit_checkpoints "
                      "WHERE seq > $1 ORDER BY seq LIMIT $2"};
constexpr Query kAppend{"append audit checkpoint",
                        "INSERT INTO audit_checkpoints (seq, hash, at_ms, key_version, signature) "
                        "VALUES ($1, $2, $3, $4, $5)"};
constexpr Query kSigningKeys{"list audit signing keys",
                             "SELECT version, public_key, created_ms FROM audit_signing_keys "
                             "ORDER BY version"};
constexpr Query kAddSigningKey{
    "add audit signing key",
    "INSERT INTO audit_signing_keys (version, public_key, created_ms) VALUES ($1, $2, $3)"};

Result<AuditCheckpointRow> ReadCheckpoint(const PgResult& r, int i) {
  AuditCheckpointRow row;
  ESCROW_ASSIGN_OR_RETURN(row.seq, r.Uint64(i, 0));
  ESCROW_ASSIGN_OR_RETURN(row.hash, r.Blob(i, 1));
  ESCROW_ASSIGN_OR_RETURN(row.at_ms, r.Int64(i, 2));
  ESCROW_ASSIGN_OR_RETURN(row.key_version, r.Uint32(i, 3));
  ESCROW_ASSIGN_OR_RETURN(row.signature, r.Blob(i, 4));
  return row;
}

Result<AuditSigningKeyRow> ReadSigningKey(const PgResult& r, int i) {
  AuditSigningKeyRow row;
  ESCROW_ASSIGN_OR_RETURN(row.version, r.Uint32(i, 0));
  ESCROW_ASSIGN_OR_RETURN(row.public_key, r.Blob(i, 1));
  ESCROW_ASSIGN_OR_RETURN(row.created_ms, r.Int64(i, 2));
  return row;
}

}  // namespace

Result<std::vector<AuditCheckpointRow>> PgAuditCheckpoints::List(std::uint64_t after,
                                                                 std::size_t limit) {
  PgParams params;
  params.Uint64Clamped(after).Count(limit);
  ESCROW_ASSIGN_OR_RETURN(PgResult result, ctx_.Read(kList, params));
  return ReadPgAll<AuditCheckpointRow>(result, ReadCheckpoint);
}

Result<std::vector<AuditSigningKeyRow>> PgAuditCheckpoints::SigningKeys() {
  ESCROW_ASSIGN_OR_RETURN(PgResult result, ctx_.Read(kSigningKeys));
  return ReadPgAll<AuditSigningKeyRow>(result, ReadSigningKey);
}

Status PgAuditCheckpoints::Append(const AuditCheckpointRow& row) {
  // As SQLite's: the table's checks answer kInvalidArgument; said here before the round trip.
  if (row.seq == 0 || row.hash.size() != 32 || row.key_version == 0 || row.signature.empty()) {
    return Status::InvalidArgument(
        "append audit checkpoint: seq 0, a hash not of 32 bytes, key version 0 or no signature");
  }
  PgParams params;
  params.Uint64Clamped(row.seq)
      .Blob(row.hash)
      .Int64(row.at_ms)
      .Uint32(row.key_version)
      .Blob(row.signature);
  return ctx_.Change(kAppend, params).status();
}

Status PgAuditCheckpoints::AddSigningKey(const AuditSigningKeyRow& row) {
  if (row.version == 0 || row.public_key.empty()) {
    return Status::InvalidArgument("add audit signing key: version 0 or an empty key");
  }
  PgParams params;
  params.Uint32(row.version).Blob(row.public_key).Int64(row.created_ms);
  return ctx_.Change(kAddSigningKey, params).status();
}

}  // namespace escrow::storage
