#include "storage/sqlite_audit_checkpoints.h"

#include "storage/database.h"
#include "storage/row_codec.h"
#include "storage/statement.h"

namespace escrow::storage {
namespace {

constexpr Query kList{"list audit checkpoints",
                      "SELECT seq, hash, at_ms, key_version, signature FROM audit_checkpoints "
                      "WHERE seq > ?1 ORDER BY seq LIMIT ?2"};
constexpr Query kAppend{"append audit checkpoint",
                        "INSERT INTO audit_checkpoints (seq, hash, at_ms, key_version, signature) "
                        "VALUES (?1, ?2, ?3, ?4, ?5)"};
constexpr Query kSigningKeys{"list audit signing keys",
                             "SELECT version, public_key, created_ms FROM audit_signing_keys "
                             "ORDER BY version"};
constexpr Query kAddSigningKey{
    "add audit signing key",
    "INSERT INTO audit_signing_keys (version, public_key, created_ms) VALUES (?1, ?2, ?3)"};

Result<AuditCheckpointRow> ReadCheckpoint(const Statement& stmt) {
  AuditCheckpointRow row;
  ESCROW_ASSIGN_OR_RETURN(row.seq, stmt.ColumnUint64(0));
  row.hash = stmt.ColumnBlob(1);
  row.at_ms = stmt.ColumnInt64(2);
  ESCROW_ASSIGN_OR_RETURN(row.key_version, stmt.ColumnUint32(3));
  row.signature = stmt.ColumnBlob(4);
  return row;
}

Result<AuditSigningKeyRow> ReadSigningKey(const Statement& stmt) {
  AuditSigningKeyRow row;
  ESCROW_ASSIGN_OR_RETURN(row.version, stmt.ColumnUint32(0));
  row.public_key = stmt.ColumnBlob(1);
  row.created_ms = stmt.ColumnInt64(2);
  return row;
}

}  // namespace

Result<std::vector<AuditCheckpointRow>> SqliteAuditCheckpoints::List(std::uint64_t after,
                                                                     std::size_t limit) {
  return ctx_.Run([&](Database& db) -> Result<std::vector<AuditCheckpointRow>> {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(kList));
    ESCROW_RETURN_IF_ERROR(stmt->BindUint64(1, after));
    ESCROW_RETURN_IF_ERROR(stmt->BindCount(2, limit));
    return ReadAll<AuditCheckpointRow>(*stmt, ReadCheckpoint);
  });
}

Result<std::vector<AuditSigningKeyRow>> SqliteAuditCheckpoints::SigningKeys() {
  return ctx_.Run([&](Database& db) -> Result<std::vector<AuditSigningKeyRow>> {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(kSigningKeys));
    return ReadAll<AuditSigningKeyRow>(*stmt, ReadSigningKey);
  });
}

Status SqliteAuditCheckpoints::Append(const AuditCheckpointRow& row) {
  return ctx_.Run([&](Database& db) -> Status {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(kAppend));
    ESCROW_RETURN_IF_ERROR(stmt->BindUint64(1, row.seq));
    ESCROW_RETURN_IF_ERROR(stmt->BindBlob(2, row.hash));
    ESCROW_RETURN_IF_ERROR(stmt->BindInt64(3, row.at_ms));
    ESCROW_RETURN_IF_ERROR(stmt->BindUint32(4, row.key_version));
    ESCROW_RETURN_IF_ERROR(stmt->BindBlob(5, row.signature));
    return stmt->Run();
  });
}

Status SqliteAuditCheckpoints::AddSigningKey(const AuditSigningKeyRow& row) {
  return ctx_.Run([&](Database& db) -> Status {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(kAddSigningKey));
    ESCROW_RETURN_IF_ERROR(stmt->BindUint32(1, row.version));
    ESCROW_RETURN_IF_ERROR(stmt->BindBlob(2, row.public_key));
    ESCROW_RETURN_IF_ERROR(stmt->BindInt64(3, row.created_ms));
    return stmt->Run();
  });
}

}  // namespace escrow::storage
