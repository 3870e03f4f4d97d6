// EscrowService's Apple MDM escrow certificates (API.md, "Apple MDM escrow, opened inside the
// HSM"): the current fleet certificate, per-device certificates issued on first request, and
// the list. Certificates are public; who may ask is still a policy decision, and refusals are
// audited like every other. A device certificate is a new fact (its serial names the device,
// so envelopes addressed to it are accepted for that device only): issued under the device's
// lock and recorded with its audit record.

#include <algorithm>
#include <mutex>

#include "vault/escrow_cert.h"
#include "vault/escrow_service.h"
#include "vault/escrow_service_impl.h"

namespace escrow::vault {
namespace {

constexpr std::int64_t kSecondsPerDay = 86400;


EscrowCertificate ToCertificate(const storage::EscrowCertRow& row) {
  return EscrowCertificate{row.serial,  FromUnixSeconds(row.not_before),
                           FromUnixSeconds(row.not_after), row.sha256, row.der,
                           std::string(storage::EscrowCertStateName(row.state))};
}

Status NoCurrent() {
  return Status::FailedPrecondition(
      "the vault has no current escrow certificate (vaultctl escrow-cert create)", "conflict");
}

}  // namespace

Result<EscrowCertificate> EscrowService::CurrentEscrowCertificate(const Caller& caller) {
  Impl& m = *impl_;
  const Action action = Action::kReadEscrowCertificate;
  Decision d = Decide(caller, action, nullptr);
  if (!d.allowed) return m.Deny(caller, action, {}, d.denial);
  std::optional<storage::EscrowCertRow> current;
  Status s = m.store.Read([&](storage::ReadTxn& txn) -> Status {
    ESCROW_ASSIGN_OR_RETURN(current, txn.escrow_certs().Current());
    return Status::Ok();
  });
  if (!s.ok()) return m.ReadFailed(caller, action, {}, s);
  if (!current) return NoCurrent();
  return ToCertificate(*current);
}

Result<std::vector<EscrowCertificate>> EscrowService::ListEscrowCertificates(
    const Caller& caller) {
  Impl& m = *impl_;
  const Action action = Action::kListEscrowCertificates;
  Decision d = Decide(caller, action, nullptr);
  if (!d.allowed) return m.Deny(caller, action, {}, d.denial);
  std::vector<storage::EscrowCertRow> rows;
  Status s = m.store.Read([&](storage::ReadTxn& txn) -> Status {
    ESCROW_ASSIGN_OR_RETURN(rows, txn.escrow_certs().ListFleet());
    return Status::Ok();
  });
  if (!s.ok()) return m.ReadFailed(caller, action, {}, s);
  std::vector<EscrowCertificate> out;
  out.reserve(rows.size());
  for (const storage::EscrowCertRow& row : rows) out.push_back(ToCertificate(row));
  return out;
}

Result<EscrowCertificate> EscrowService::DeviceEscrowCertificate(const Caller& caller,
                                                                 std::string_view id) {
  Impl& m = *impl_;
  const Action action = Action::kIssueEscrowCertificate;
  std::lock_guard<std::mutex> lock(m.StripeFor(id));  // one issuance per device at a time
  Impl::DeviceRead read = m.ReadDevice(id);
  Result<storage::DeviceRow> row = m.Authorize(caller, action, id, std::move(read.device));
  if (!row.ok()) return row.status();
  ESCROW_ASSIGN_OR_RETURN(storage::EscrowCertRow cert, m.DeviceCertificate(caller, id));
  return ToCertificate(cert);
}

Result<storage::EscrowCertRow> EscrowService::Impl::DeviceCertificate(const Caller& caller,
                                                                      std::string_view id) {
  const Action action = Action::kIssueEscrowCertificate;
  std::optional<storage::EscrowCertRow> current;
  std::optional<storage::EscrowCertRow> existing;
  std::optional<storage::EscrowCaRow> ca;
  Status read = store.Read([&](storage::ReadTxn& txn) -> Status {
    ESCROW_ASSIGN_OR_RETURN(current, txn.escrow_certs().Current());
    if (!current) return Status::Ok();
    ESCROW_ASSIGN_OR_RETURN(existing, txn.escrow_certs().ForDevice(id, current->key_version));
    ESCROW_ASSIGN_OR_RETURN(ca, txn.escrow_certs().GetCa(current->ca_version));
    return Status::Ok();
  });
  if (!read.ok()) return ReadFailed(caller, action, id, read);
  if (!current) return NoCurrent();
  const std::int64_t now = ToUnixSeconds(clock.Now());
  // An expired one is never handed out (it expires with the fleet certificate: refused below).
  if (existing && existing->not_after > now) return std::move(*existing);
  if (!ca) {
    return Deny(caller, action, id,
                Status::DataLoss("the current escrow certificate names no CA row",
                                 "integrity_error"));
  }

  // A new certificate of the current escrow key, for this device only, expiring with the
  // fleet certificate (a renewed fleet certificate means new device certificates too).
  Result<hsm::EscrowKeyInfo> key =
      keys.FindEscrowKey(hsm::EscrowKeyKind::kCms, current->key_version);
  if (!key.ok()) return Status::Unavailable(key.status().message(), "unavailable");
  if (current->not_after <= now) {
    return Status::FailedPrecondition("the current escrow certificate has expired", "conflict");
  }
  Result<std::string> cn = CertificateCommonName(current->der);
  if (!cn.ok()) return Status::Internal(cn.status().message());
  Result<Bytes> serial = NewSerial();
  if (!serial.ok()) return serial.status();
  CertificateFields fields;
  fields.subject_cn = *cn;
  fields.device_id = std::string(id);
  fields.serial = std::move(*serial);
  fields.not_before = now;
  fields.days = static_cast<std::uint32_t>(std::clamp<std::int64_t>(
      (current->not_after - now + kSecondsPerDay - 1) / kSecondsPerDay, 1,
      std::int64_t{kMaxCertificateDays}));
  Result<IssuedCertificate> issued =
      IssueEscrowCertificate(keys, current->ca_version, ca->der, *key, fields);
  if (!issued.ok()) return Status::Unavailable(issued.status().message(), "unavailable");

  storage::EscrowCertRow cert;
  cert.serial = issued->serial_hex;
  cert.key_version = current->key_version;
  cert.ca_version = current->ca_version;
  cert.kind = storage::EscrowCertKind::kDevice;
  cert.device_id = std::string(id);
  cert.state = storage::EscrowCertState::kActive;
  cert.not_before = issued->not_before;
  cert.not_after = issued->not_after;
  cert.sha256 = issued->sha256_hex;
  cert.der = issued->der;
  Status s = pipeline.Commit(
      [&](storage::WriteTxn& txn) { return txn.escrow_certs().Insert(cert); },
      {Event(caller, action, id, "ok", {},
             "serial=" + cert.serial + " key=escrow-cms-v" + std::to_string(cert.key_version))});
  if (!s.ok()) return Status::Unavailable(s.message(), "unavailable");
  return cert;
}

}  // namespace escrow::vault
