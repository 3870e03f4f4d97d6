#include "vault/ops/escrow_cert.h"

#include <algorithm>
#include <cctype>
#include <ctime>
#include <optional>
#include <sstream>

#include <boost/json.hpp>

#include "vault/ops/ceremony_record.h"

namespace escrow::ops {
namespace {


// The next version of `kind` that neither the database nor the token has used.
Result<std::uint32_t> NextVersion(hsm::KeyService& keys, hsm::EscrowKeyKind kind,
                                  std::uint32_t recorded) {
  ESCROW_ASSIGN_OR_RETURN(const std::vector<hsm::EscrowKeyInfo> on_token, keys.ListEscrowKeys());
  std::uint32_t highest = recorded;
  for (const hsm::EscrowKeyInfo& k : on_token) {
    if (k.kind == kind) highest = std::max(highest, k.version);
  }
  if (highest == UINT32_MAX) return Status::FailedPrecondition("escrow key versions exhausted");
  return highest + 1;
}

vault::CertificateFields FieldsFor(std::string subject, std::uint32_t days, std::int64_t now,
                                   Bytes serial) {
  vault::CertificateFields f;
  f.subject_cn = std::move(subject);
  f.days = days;
  f.not_before = now;
  f.serial = std::move(serial);
  return f;
}

}  // namespace

std::string UtcTimestamp(std::int64_t unix_seconds) {
  const auto t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  const std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return std::string(buf, n);
}

Result<PreparedEscrowCert> PrepareEscrowCert(const EscrowCertOptions& o, hsm::KeyService& keys,
                                             storage::Store& store) {
  if (o.bits != hsm::kCmsKeyBits2048 && o.bits != hsm::kCmsKeyBits3072) {
    return Status::InvalidArgument("--bits must be 2048 or 3072");
  }
  if (o.days == 0 || o.days > vault::kMaxCertificateDays) {
    return Status::InvalidArgument("--days must be 1 to " +
                                   std::to_string(vault::kMaxCertificateDays));
  }
  if (o.subject.empty() || o.subject.size() > 64) {
    return Status::InvalidArgument("--subject must have 1 to 64 characters");
  }
  const std::int64_t now = o.now != 0 ? o.now : static_cast<std::int64_t>(std::time(nullptr));

  std::optional<storage::EscrowCaRow> ca_row;
  std::uint32_t recorded_key = 0;
  ESCROW_RETURN_IF_ERROR(store.Read([&](storage::ReadTxn& txn) -> Status {
    ESCROW_ASSIGN_OR_RETURN(ca_row, txn.escrow_certs().NewestCa());
    ESCROW_ASSIGN_OR_RETURN(recorded_key, txn.escrow_certs().LatestKeyVersion());
    return Status::Ok();
  }));

  PreparedEscrowCert p;
  EscrowCertReport& report = p.report;
  // The CA: the recorded one (its key must still be on the token), or a new one.
  if (ca_row) {
    report.ca_version = ca_row->version;
    ESCROW_RETURN_IF_ERROR(keys.FindEscrowKey(hsm::EscrowKeyKind::kCa, ca_row->version)
                               .status()
                               .WithContext("the escrow CA key"));
  } else {
    ESCROW_ASSIGN_OR_RETURN(report.ca_version, NextVersion(keys, hsm::EscrowKeyKind::kCa, 0));
    ESCROW_ASSIGN_OR_RETURN(const hsm::EscrowKeyInfo ca_key,
                            keys.GenerateSigningKey(hsm::EscrowKeyKind::kCa, report.ca_version));
    ESCROW_ASSIGN_OR_RETURN(Bytes ca_serial, vault::NewSerial());
    ESCROW_ASSIGN_OR_RETURN(
        const vault::IssuedCertificate ca_cert,
        vault::IssueCaCertificate(keys, ca_key,
                                  FieldsFor(std::string(kDefaultEscrowCaSubject), kEscrowCaDays,
                                            now, std::move(ca_serial))));
    ca_row = storage::EscrowCaRow{report.ca_version, ca_cert.serial_hex, ca_cert.not_before,
                                  ca_cert.not_after, ca_cert.sha256_hex, ca_cert.der};
    p.new_ca = ca_row;
    report.ca_created = true;
  }

  // The escrow key and its fleet certificate.
  ESCROW_ASSIGN_OR_RETURN(report.key_version,
                          NextVersion(keys, hsm::EscrowKeyKind::kCms, recorded_key));
  ESCROW_ASSIGN_OR_RETURN(const hsm::EscrowKeyInfo escrow_key,
                          keys.GenerateCmsKey(report.key_version, o.bits));
  ESCROW_ASSIGN_OR_RETURN(Bytes serial, vault::NewSerial());
  ESCROW_ASSIGN_OR_RETURN(
      report.certificate,
      vault::IssueEscrowCertificate(keys, report.ca_version, ca_row->der, escrow_key,
                                    FieldsFor(o.subject, o.days, now, std::move(serial))));

  const vault::IssuedCertificate& cert = report.certificate;
  storage::EscrowCertRow& row = p.fleet;
  row.serial = cert.serial_hex;
  row.key_version = report.key_version;
  row.ca_version = report.ca_version;
  row.kind = storage::EscrowCertKind::kFleet;
  row.state = storage::EscrowCertState::kActive;  // RecordEscrowCert makes it current
  row.not_before = cert.not_before;
  row.not_after = cert.not_after;
  row.sha256 = cert.sha256_hex;
  row.der = cert.der;

  boost::json::object detail;
  detail["serial"] = cert.serial_hex;
  detail["key"] = escrow_key.label;
  detail["bits"] = escrow_key.bits;
  detail["ca"] = hsm::EscrowKeyLabel(hsm::EscrowKeyKind::kCa, report.ca_version);
  detail["ca_created"] = report.ca_created;
  detail["subject"] = o.subject;
  detail["not_before"] = UtcTimestamp(cert.not_before);
  detail["not_after"] = UtcTimestamp(cert.not_after);
  detail["sha256"] = cert.sha256_hex;
  p.detail = boost::json::serialize(detail);
  return p;
}

Status RecordEscrowCert(storage::WriteTxn& txn, const PreparedEscrowCert& p) {
  if (p.new_ca) ESCROW_RETURN_IF_ERROR(txn.escrow_certs().PutCa(*p.new_ca));
  ESCROW_RETURN_IF_ERROR(txn.escrow_certs().Insert(p.fleet));
  return txn.escrow_certs().MakeCurrent(p.fleet.serial);
}

Result<EscrowCertReport> CreateEscrowCert(const EscrowCertOptions& o, const Vault& v) {
  ESCROW_ASSIGN_OR_RETURN(PreparedEscrowCert p, PrepareEscrowCert(o, v.keys, v.store));
  auto record = [&p](storage::WriteTxn& txn) { return RecordEscrowCert(txn, p); };
  ESCROW_RETURN_IF_ERROR(
      RecordCeremony(v.audit, "ceremony.escrow_cert.create", p.detail, record));
  p.report.head = v.audit.head();
  return std::move(p.report);
}

Result<std::vector<storage::EscrowCertRow>> ListEscrowCerts(storage::Store& store) {
  std::vector<storage::EscrowCertRow> rows;
  ESCROW_RETURN_IF_ERROR(store.Read([&](storage::ReadTxn& txn) -> Status {
    ESCROW_ASSIGN_OR_RETURN(rows, txn.escrow_certs().ListFleet());
    return Status::Ok();
  }));
  return rows;
}

Status RetireEscrowCert(std::string_view serial_hex, const Vault& v) {
  std::string serial(serial_hex);
  std::transform(serial.begin(), serial.end(), serial.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  boost::json::object detail;
  detail["serial"] = serial;
  auto retire = [&](storage::WriteTxn& txn) { return txn.escrow_certs().Retire(serial); };
  return RecordCeremony(v.audit, "ceremony.escrow_cert.retire", boost::json::serialize(detail),
                        retire);
}

std::string RenderEscrowCert(const EscrowCertReport& r) {
  std::ostringstream out;
  out << "escrow certificate created\n";
  if (r.ca_created) {
    out << "  escrow CA key created: "
        << hsm::EscrowKeyLabel(hsm::EscrowKeyKind::kCa, r.ca_version)
        << "  EC P-256, sign only, never extractable\n";
  }
  out << "  escrow key: " << hsm::EscrowKeyLabel(hsm::EscrowKeyKind::kCms, r.key_version)
      << "  RSA, unwrap only, never extractable\n"
      << "  serial: " << r.certificate.serial_hex << "\n"
      << "  valid: " << UtcTimestamp(r.certificate.not_before) << " to "
      << UtcTimestamp(r.certificate.not_after) << "\n"
      << "  sha256: " << r.certificate.sha256_hex << "\n"
      << "  state: current\n"
      << "  audit head: " << r.head.seq << ":" << r.head.hash << "\n";
  return out.str();
}

std::string RenderEscrowCertList(const std::vector<storage::EscrowCertRow>& rows) {
  std::ostringstream out;
  if (rows.empty()) out << "no escrow certificates (vaultctl escrow-cert create makes one)\n";
  for (const storage::EscrowCertRow& row : rows) {
    out << row.serial << "  " << storage::EscrowCertStateName(row.state) << "  escrow-cms-v" << row.key_version
        << "  " << UtcTimestamp(row.not_before) << " to " << UtcTimestamp(row.not_after)
        << "  sha256 " << row.sha256 << "\n";
  }
  return out.str();
}

}  // namespace escrow::ops
