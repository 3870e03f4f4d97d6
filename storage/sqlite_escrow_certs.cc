#include "storage/sqlite_escrow_certs.h"

#include "storage/database.h"
#include "storage/row_codec.h"
#include "storage/statement.h"

namespace escrow::storage {
namespace {

#define ESCROW_CA_COLUMNS "version, serial, not_before, not_after, sha256, der"
#define ESCROW_CERT_COLUMNS \
  "serial, key_version, ca_version, kind, device_id, state, not_before, not_after, sha256, der"

constexpr Query kGetCa{"get escrow CA",
                       "SELECT " ESCROW_CA_COLUMNS " FROM escrow_cas WHERE version = ?1"};
constexpr Query kNewestCa{"newest escrow CA", "SELECT " ESCROW_CA_COLUMNS
                                              " FROM escrow_cas ORDER BY version DESC LIMIT 1"};
constexpr Query kPutCa{"put escrow CA",
                       "INSERT INTO escrow_cas (" ESCROW_CA_COLUMNS
                       ") VALUES (?1, ?2, ?3, ?4, ?5, ?6)"};
constexpr Query kGetCert{"get escrow certificate", "SELECT " ESCROW_CERT_COLUMNS
                                                   " FROM escrow_certificates WHERE serial = ?1"};
constexpr Query kCurrentCert{"current escrow certificate",
                             "SELECT " ESCROW_CERT_COLUMNS
                             " FROM escrow_certificates WHERE kind = 'fleet' AND "
                             "state = 'current'"};
constexpr Query kListFleet{"list escrow certificates",
                           "SELECT " ESCROW_CERT_COLUMNS
                           " FROM escrow_certificates WHERE kind = 'fleet' "
                           "ORDER BY key_version, serial"};
constexpr Query kForDevice{"device escrow certificate",
                           "SELECT " ESCROW_CERT_COLUMNS
                           " FROM escrow_certificates WHERE device_id = ?1 AND key_version = ?2 "
                           "AND state <> 'retired' ORDER BY serial LIMIT 1"};
constexpr Query kLatestKey{"latest escrow key version",
                           "SELECT coalesce(max(key_version), 0) FROM escrow_certificates"};
constexpr Query kInsertCert{"insert escrow certificate",
                            "INSERT INTO escrow_certificates (" ESCROW_CERT_COLUMNS
                            ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"};
constexpr Query kDemoteCurrent{"demote current escrow certificate",
                               "UPDATE escrow_certificates SET state = 'active' "
                               "WHERE kind = 'fleet' AND state = 'current'"};
constexpr Query kSetCurrent{"make escrow certificate current",
                            "UPDATE escrow_certificates SET state = 'current' WHERE serial = ?1"};
constexpr Query kRetireKey{"retire escrow key's certificates",
                           "UPDATE escrow_certificates SET state = 'retired' "
                           "WHERE key_version = ?1 AND state <> 'retired'"};
constexpr Query kEnvelopeDevice{"cms envelope device",
                                "SELECT device_id FROM cms_envelopes WHERE digest = ?1"};
constexpr Query kRecordEnvelope{"record cms envelope",
                                "INSERT INTO cms_envelopes (digest, device_id, stored_ms) "
                                "VALUES (?1, ?2, ?3)"};

#undef ESCROW_CA_COLUMNS
#undef ESCROW_CERT_COLUMNS

Result<EscrowCaRow> ReadCa(const Statement& stmt) {
  EscrowCaRow row;
  ESCROW_ASSIGN_OR_RETURN(row.version, stmt.ColumnUint32(0));
  row.serial = stmt.ColumnText(1);
  row.not_before = stmt.ColumnInt64(2);
  row.not_after = stmt.ColumnInt64(3);
  row.sha256 = stmt.ColumnText(4);
  row.der = stmt.ColumnBlob(5);
  return row;
}

Result<EscrowCertRow> ReadCert(const Statement& stmt) {
  EscrowCertRow row;
  row.serial = stmt.ColumnText(0);
  ESCROW_ASSIGN_OR_RETURN(row.key_version, stmt.ColumnUint32(1));
  ESCROW_ASSIGN_OR_RETURN(row.ca_version, stmt.ColumnUint32(2));
  const std::optional<EscrowCertKind> kind = ParseEscrowCertKind(stmt.ColumnText(3));
  const std::optional<EscrowCertState> state = ParseEscrowCertState(stmt.ColumnText(5));
  if (!kind || !state) return Status::DataLoss("an escrow certificate row is not ours");
  row.kind = *kind;
  row.state = *state;
  if (!stmt.ColumnIsNull(4)) row.device_id = stmt.ColumnText(4);
  row.not_before = stmt.ColumnInt64(6);
  row.not_after = stmt.ColumnInt64(7);
  row.sha256 = stmt.ColumnText(8);
  row.der = stmt.ColumnBlob(9);
  return row;
}

}  // namespace

std::string_view EscrowCertKindName(EscrowCertKind kind) {
  return kind == EscrowCertKind::kFleet ? "fleet" : "device";
}

std::string_view EscrowCertStateName(EscrowCertState state) {
  switch (state) {
    case EscrowCertState::kCurrent:
      return "current";
    case EscrowCertState::kActive:
      return "active";
    case EscrowCertState::kRetired:
      return "retired";
  }
  return "unknown";  // unreachable: every state is listed
}

std::optional<EscrowCertKind> ParseEscrowCertKind(std::string_view text) {
  if (text == "fleet") return EscrowCertKind::kFleet;
  if (text == "device") return EscrowCertKind::kDevice;
  return std::nullopt;
}

std::optional<EscrowCertState> ParseEscrowCertState(std::string_view text) {
  if (text == "current") return EscrowCertState::kCurrent;
  if (text == "active") return EscrowCertState::kActive;
  if (text == "retired") return EscrowCertState::kRetired;
  return std::nullopt;
}

Result<std::optional<EscrowCaRow>> SqliteEscrowCerts::GetCa(std::uint32_t version) {
  return ctx_.Run([&](Database& db) -> Result<std::optional<EscrowCaRow>> {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(kGetCa));
    ESCROW_RETURN_IF_ERROR(stmt->BindUint32(1, version));
    return ReadOne<EscrowCaRow>(*stmt, ReadCa);
  });
}

Result<std::optional<EscrowCaRow>> SqliteEscrowCerts::NewestCa() {
  return ctx_.Run([&](Database& db) -> Result<std::optional<EscrowCaRow>> {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(kNewestCa));
    return ReadOne<EscrowCaRow>(*stmt, ReadCa);
  });
}

Result<std::optional<EscrowCertRow>> SqliteEscrowCerts::Get(std::string_view serial) {
  return ctx_.Run([&](Database& db) -> Result<std::optional<EscrowCertRow>> {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(kGetCert));
    ESCROW_RETURN_IF_ERROR(stmt->BindText(1, serial));
    return ReadOne<EscrowCertRow>(*stmt, ReadCert);
  });
}

Result<std::optional<EscrowCertRow>> SqliteEscrowCerts::Current() {
  return ctx_.Run([&](Database& db) -> Result<std::optional<EscrowCertRow>> {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(kCurrentCert));
    return ReadOne<EscrowCertRow>(*stmt, ReadCert);
  });
}

Result<std::vector<EscrowCertRow>> SqliteEscrowCerts::ListFleet() {
  return ctx_.Run([&](Database& db) -> Result<std::vector<EscrowCertRow>> {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(kListFleet));
    return ReadAll<EscrowCertRow>(*stmt, ReadCert);
  });
}

Result<std::optional<EscrowCertRow>> SqliteEscrowCerts::ForDevice(std::string_view device_id,
                                                                  std::uint32_t key_version) {
  return ctx_.Run([&](Database& db) -> Result<std::optional<EscrowCertRow>> {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(kForDevice));
    ESCROW_RETURN_IF_ERROR(stmt->BindText(1, device_id));
    ESCROW_RETURN_IF_ERROR(stmt->BindUint32(2, key_version));
    return ReadOne<EscrowCertRow>(*stmt, ReadCert);
  });
}

Result<std::uint32_t> SqliteEscrowCerts::LatestKeyVersion() {
  return ctx_.Run([&](Database& db) -> Result<std::uint32_t> {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(kLatestKey));
    ESCROW_ASSIGN_OR_RETURN(const bool row, stmt->Step());
    if (!row) return Status::Internal("latest escrow key version: no row");
    return stmt->ColumnUint32(0);
  });
}

Result<std::optional<std::string>> SqliteEscrowCerts::EnvelopeDevice(
    std::span<const std::uint8_t> digest) {
  return ctx_.Run([&](Database& db) -> Result<std::optional<std::string>> {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(kEnvelopeDevice));
    ESCROW_RETURN_IF_ERROR(stmt->BindBlob(1, digest));
    ESCROW_ASSIGN_OR_RETURN(const bool row, stmt->Step());
    if (!row) return std::optional<std::string>();
    return std::optional<std::string>(stmt->ColumnText(0));
  });
}

Status SqliteEscrowCerts::PutCa(const EscrowCaRow& row) {
  return ctx_.Run([&](Database& db) -> Status {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(kPutCa));
    ESCROW_RETURN_IF_ERROR(stmt->BindUint32(1, row.version));
    ESCROW_RETURN_IF_ERROR(stmt->BindText(2, row.serial));
    ESCROW_RETURN_IF_ERROR(stmt->BindInt64(3, row.not_before));
    ESCROW_RETURN_IF_ERROR(stmt->BindInt64(4, row.not_after));
    ESCROW_RETURN_IF_ERROR(stmt->BindText(5, row.sha256));
    ESCROW_RETURN_IF_ERROR(stmt->BindBlob(6, row.der));
    return stmt->Run();
  });
}

Status SqliteEscrowCerts::Insert(const EscrowCertRow& row) {
  // The schema allows 'current' (it is a stored state); only MakeCurrent may set it, so that
  // the previous current certificate is demoted in the same step.
  if (row.state == EscrowCertState::kCurrent) {
    return Status::InvalidArgument("insert escrow certificate: state current (use MakeCurrent)");
  }
  return ctx_.Run([&](Database& db) -> Status {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(kInsertCert));
    ESCROW_RETURN_IF_ERROR(stmt->BindText(1, row.serial));
    ESCROW_RETURN_IF_ERROR(stmt->BindUint32(2, row.key_version));
    ESCROW_RETURN_IF_ERROR(stmt->BindUint32(3, row.ca_version));
    ESCROW_RETURN_IF_ERROR(stmt->BindText(4, EscrowCertKindName(row.kind)));
    if (row.device_id) {
      ESCROW_RETURN_IF_ERROR(stmt->BindText(5, *row.device_id));
    } else {
      ESCROW_RETURN_IF_ERROR(stmt->BindNull(5));
    }
    ESCROW_RETURN_IF_ERROR(stmt->BindText(6, EscrowCertStateName(row.state)));
    ESCROW_RETURN_IF_ERROR(stmt->BindInt64(7, row.not_before));
    ESCROW_RETURN_IF_ERROR(stmt->BindInt64(8, row.not_after));
    ESCROW_RETURN_IF_ERROR(stmt->BindText(9, row.sha256));
    ESCROW_RETURN_IF_ERROR(stmt->BindBlob(10, row.der));
    return stmt->Run();
  });
}

Status SqliteEscrowCerts::MakeCurrent(std::string_view serial) {
  ESCROW_ASSIGN_OR_RETURN(const std::optional<EscrowCertRow> cert, Get(serial));
  if (!cert) return Status::NotFound("escrow certificate " + std::string(serial) + " not found");
  if (cert->kind != EscrowCertKind::kFleet || cert->state == EscrowCertState::kRetired) {
    return Status::FailedPrecondition("only an unretired fleet certificate can be current");
  }
  return ctx_.Run([&](Database& db) -> Status {
    ESCROW_ASSIGN_OR_RETURN(StatementLease demote, db.Prepare(kDemoteCurrent));
    ESCROW_RETURN_IF_ERROR(demote->Run());
    ESCROW_ASSIGN_OR_RETURN(StatementLease set, db.Prepare(kSetCurrent));
    ESCROW_RETURN_IF_ERROR(set->BindText(1, serial));
    ESCROW_RETURN_IF_ERROR(set->Run());
    return ExpectOneChange(db, "escrow certificate");
  });
}

Status SqliteEscrowCerts::Retire(std::string_view serial) {
  ESCROW_ASSIGN_OR_RETURN(const std::optional<EscrowCertRow> cert, Get(serial));
  if (!cert) return Status::NotFound("escrow certificate " + std::string(serial) + " not found");
  if (cert->kind != EscrowCertKind::kFleet) {
    return Status::FailedPrecondition("retire a fleet certificate, not a device certificate");
  }
  ESCROW_ASSIGN_OR_RETURN(const std::optional<EscrowCertRow> current, Current());
  if (current && current->key_version == cert->key_version) {
    return Status::FailedPrecondition("the current escrow certificate cannot be retired");
  }
  return ctx_.Run([&](Database& db) -> Status {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(kRetireKey));
    ESCROW_RETURN_IF_ERROR(stmt->BindUint32(1, cert->key_version));
    return stmt->Run();
  });
}

Status SqliteEscrowCerts::RecordEnvelope(std::span<const std::uint8_t> digest,
                                         std::string_view device_id, std::int64_t stored_ms) {
  return ctx_.Run([&](Database& db) -> Status {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(kRecordEnvelope));
    ESCROW_RETURN_IF_ERROR(stmt->BindBlob(1, digest));
    ESCROW_RETURN_IF_ERROR(stmt->BindText(2, device_id));
    ESCROW_RETURN_IF_ERROR(stmt->BindInt64(3, stored_ms));
    return stmt->Run();
  });
}

}  // namespace escrow::storage
