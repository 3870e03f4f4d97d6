#include <string>

#include "storage/pg_row_codec.h"
#include "storage/pg_stores.h"

namespace escrow::storage {
namespace {

#define PG_CA_COLUMNS "version, serial, not_before, not_after, sha256, der"
#define PG_CERT_COLUMNS \
  "serial, key_version, ca_version, kind, device_id, state, not_before, not_after, sha256, der"

constexpr Query kGetCa{"get escrow CA",
                       "SELECT " PG_CA_COLUMNS " FROM escrow_cas WHERE version = $1"};
constexpr Query kNewestCa{"newest escrow CA",
                          "SELECT " PG_CA_COLUMNS " FROM escrow_cas ORDER BY version DESC LIMIT 1"};
constexpr Query kPutCa{"put escrow CA", "INSERT INTO escrow_cas (" PG_CA_COLUMNS
                                        ") VALUES ($1, $2, $3, $4, $5, $6)"};
constexpr Query kGetCert{"get escrow certificate",
                         "SELECT " PG_CERT_COLUMNS " FROM escrow_certificates WHERE serial = $1"};
constexpr Query kCurrentCert{"current escrow certificate",
                             "SELECT " PG_CERT_COLUMNS " FROM escrow_certificates WHERE "
                             "kind = 'fleet' AND state = 'current'"};
constexpr Query kListFleet{"list escrow certificates",
                           "SELECT " PG_CERT_COLUMNS " FROM escrow_certificates WHERE "
                           "kind = 'fleet' ORDER BY key_version, serial"};
constexpr Query kForDevice{"device escrow certificate",
                           "SELECT " PG_CERT_COLUMNS
                           " FROM escrow_certificates WHERE device_id = $1 AND key_version = $2 "
                           "AND state <> 'retired' ORDER BY serial LIMIT 1"};
constexpr Query kLatestKey{"latest escrow key version",
                           "SELECT coalesce(max(key_version), 0) FROM escrow_certificates"};
constexpr Query kInsertCert{"insert escrow certificate",
                            "INSERT INTO escrow_certificates (" PG_CERT_COLUMNS
                            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"};
constexpr Query kDemoteCurrent{"demote current escrow certificate",
                               "UPDATE escrow_certificates SET state = 'active' "
                               "WHERE kind = 'fleet' AND state = 'current'"};
constexpr Query kSetCurrent{"make escrow certificate current",
                            "UPDATE escrow_certificates SET state = 'current' WHERE serial = $1"};
constexpr Query kRetireKey{"retire escrow key's certificates",
                           "UPDATE escrow_certificates SET state = 'retired' "
                           "WHERE key_version = $1 AND state <> 'retired'"};
constexpr Query kEnvelopeDevice{"cms envelope device",
                                "SELECT device_id FROM cms_envelopes WHERE digest = $1"};
constexpr Query kRecordEnvelope{"record cms envelope",
                                "INSERT INTO cms_envelopes (digest, device_id, stored_ms) "
                                "VALUES ($1, $2, $3)"};

#undef PG_CA_COLUMNS
#undef PG_CERT_COLUMNS

Result<EscrowCaRow> ReadCa(const PgResult& result, int r) {
  EscrowCaRow row;
  ESCROW_ASSIGN_OR_RETURN(row.version, result.Uint32(r, 0));
  row.serial = result.Text(r, 1);
  ESCROW_ASSIGN_OR_RETURN(row.not_before, result.Int64(r, 2));
  ESCROW_ASSIGN_OR_RETURN(row.not_after, result.Int64(r, 3));
  row.sha256 = result.Text(r, 4);
  ESCROW_ASSIGN_OR_RETURN(row.der, result.Blob(r, 5));
  return row;
}

Result<EscrowCertRow> ReadCert(const PgResult& result, int r) {
  EscrowCertRow row;
  row.serial = result.Text(r, 0);
  ESCROW_ASSIGN_OR_RETURN(row.key_version, result.Uint32(r, 1));
  ESCROW_ASSIGN_OR_RETURN(row.ca_version, result.Uint32(r, 2));
  const std::optional<EscrowCertKind> kind = ParseEscrowCertKind(result.Text(r, 3));
  const std::optional<EscrowCertState> state = ParseEscrowCertState(result.Text(r, 5));
  if (!kind || !state) return Status::DataLoss("an escrow certificate row is not ours");
  row.kind = *kind;
  row.state = *state;
  if (!result.IsNull(r, 4)) row.device_id = result.Text(r, 4);
  ESCROW_ASSIGN_OR_RETURN(row.not_before, result.Int64(r, 6));
  ESCROW_ASSIGN_OR_RETURN(row.not_after, result.Int64(r, 7));
  row.sha256 = result.Text(r, 8);
  ESCROW_ASSIGN_OR_RETURN(row.der, result.Blob(r, 9));
  return row;
}

}  // namespace

Result<std::optional<EscrowCaRow>> PgEscrowCerts::GetCa(std::uint32_t version) {
  PgParams params;
  params.Uint32(version);
  ESCROW_ASSIGN_OR_RETURN(PgResult result, ctx_.Read(kGetCa, params));
  return ReadPgOne<EscrowCaRow>(result, ReadCa);
}

Result<std::optional<EscrowCaRow>> PgEscrowCerts::NewestCa() {
  ESCROW_ASSIGN_OR_RETURN(PgResult result, ctx_.Read(kNewestCa));
  return ReadPgOne<EscrowCaRow>(result, ReadCa);
}

Result<std::optional<EscrowCertRow>> PgEscrowCerts::Get(std::string_view serial) {
  PgParams params;
  params.Text(serial);
  ESCROW_ASSIGN_OR_RETURN(PgResult result, ctx_.Read(kGetCert, params));
  return ReadPgOne<EscrowCertRow>(result, ReadCert);
}

Result<std::optional<EscrowCertRow>> PgEscrowCerts::Current() {
  ESCROW_ASSIGN_OR_RETURN(PgResult result, ctx_.Read(kCurrentCert));
  return ReadPgOne<EscrowCertRow>(result, ReadCert);
}

Result<std::vector<EscrowCertRow>> PgEscrowCerts::ListFleet() {
  ESCROW_ASSIGN_OR_RETURN(PgResult result, ctx_.Read(kListFleet));
  return ReadPgAll<EscrowCertRow>(result, ReadCert);
}

Result<std::optional<EscrowCertRow>> PgEscrowCerts::ForDevice(std::string_view device_id,
                                                              std::uint32_t key_version) {
  PgParams params;
  params.Text(device_id).Uint32(key_version);
  ESCROW_ASSIGN_OR_RETURN(PgResult result, ctx_.Read(kForDevice, params));
  return ReadPgOne<EscrowCertRow>(result, ReadCert);
}

Result<std::uint32_t> PgEscrowCerts::LatestKeyVersion() {
  ESCROW_ASSIGN_OR_RETURN(PgResult result, ctx_.Read(kLatestKey));
  if (result.rows() != 1) return Status::Internal("latest escrow key version: no row");
  return result.Uint32(0, 0);
}

Result<std::optional<std::string>> PgEscrowCerts::EnvelopeDevice(
    std::span<const std::uint8_t> digest) {
  PgParams params;
  params.Blob(digest);
  ESCROW_ASSIGN_OR_RETURN(PgResult result, ctx_.Read(kEnvelopeDevice, params));
  if (result.rows() == 0) return std::optional<std::string>();
  return std::optional<std::string>(result.Text(0, 0));
}

Status PgEscrowCerts::PutCa(const EscrowCaRow& row) {
  PgParams params;
  params.Uint32(row.version).Text(row.serial).Int64(row.not_before).Int64(row.not_after);
  params.Text(row.sha256).Blob(row.der);
  return ctx_.Change(kPutCa, params).status();
}

Status PgEscrowCerts::Insert(const EscrowCertRow& row) {
  // Only MakeCurrent may make one current, so that the previous one is demoted in one step.
  if (row.state == EscrowCertState::kCurrent) {
    return Status::InvalidArgument("insert escrow certificate: state current (use MakeCurrent)");
  }
  PgParams params;
  params.Text(row.serial).Uint32(row.key_version).Uint32(row.ca_version);
  params.Text(EscrowCertKindName(row.kind));
  params.OptionalText(row.device_id);
  params.Text(EscrowCertStateName(row.state)).Int64(row.not_before).Int64(row.not_after);
  params.Text(row.sha256).Blob(row.der);
  return ctx_.Change(kInsertCert, params).status();
}

Status PgEscrowCerts::MakeCurrent(std::string_view serial) {
  ESCROW_ASSIGN_OR_RETURN(const std::optional<EscrowCertRow> cert, Get(serial));
  if (!cert) return Status::NotFound("escrow certificate " + std::string(serial) + " not found");
  if (cert->kind != EscrowCertKind::kFleet || cert->state == EscrowCertState::kRetired) {
    return Status::FailedPrecondition("only an unretired fleet certificate can be current");
  }
  ESCROW_RETURN_IF_ERROR(ctx_.Change(kDemoteCurrent).status());
  PgParams params;
  params.Text(serial);
  ESCROW_ASSIGN_OR_RETURN(PgResult result, ctx_.Change(kSetCurrent, params));
  return ExpectPgOneChange(result, "escrow certificate");
}

Status PgEscrowCerts::Retire(std::string_view serial) {
  ESCROW_ASSIGN_OR_RETURN(const std::optional<EscrowCertRow> cert, Get(serial));
  if (!cert) return Status::NotFound("escrow certificate " + std::string(serial) + " not found");
  if (cert->kind != EscrowCertKind::kFleet) {
    return Status::FailedPrecondition("retire a fleet certificate, not a device certificate");
  }
  ESCROW_ASSIGN_OR_RETURN(const std::optional<EscrowCertRow> current, Current());
  if (current && current->key_version == cert->key_version) {
    return Status::FailedPrecondition("the current escrow certificate cannot be retired");
  }
  PgParams params;
  params.Uint32(cert->key_version);
  return ctx_.Change(kRetireKey, params).status();
}

Status PgEscrowCerts::RecordEnvelope(std::span<const std::uint8_t> digest,
                                     std::string_view device_id, std::int64_t stored_ms) {
  PgParams params;
  params.Blob(digest).Text(device_id).Int64(stored_ms);
  return ctx_.Change(kRecordEnvelope, params).status();
}

}  // namespace escrow::storage
