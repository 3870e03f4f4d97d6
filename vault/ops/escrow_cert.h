#pragma once

// `vaultctl escrow-cert create|list|retire` (API.md, "Apple MDM escrow, opened inside the
// HSM"). create: a new escrow key pair escrow-cms-v<N> in the HSM (RSA, unwrap only), the
// escrow CA key escrow-ca-v<M> and its self-signed certificate on first use (EC P-256, sign
// only), and a fleet certificate of the new key issued by the CA, signed in the HSM; recorded
// and made current in the transaction of its audit record (`ceremony.escrow_cert.create`).
// retire: a fleet certificate that is not current, with every device certificate of its key
// (`ceremony.escrow_cert.retire`): its key no longer opens envelopes. Older certificates stay
// active (their keys keep opening envelopes addressed to them) until retired. Keys are never
// reused: a key left on the token by a run that did not record it stays unused.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "storage/escrow_certs.h"
#include "vault/commit_pipeline.h"
#include "vault/escrow_cert.h"
#include "vault/ops/vault_access.h"

namespace escrow::ops {

inline constexpr std::string_view kDefaultEscrowSubject = "Escrow Vault FileVault Escrow";
inline constexpr std::string_view kDefaultEscrowCaSubject = "Escrow Vault Escrow CA";
inline constexpr std::uint32_t kDefaultEscrowDays = 365;
inline constexpr std::uint32_t kEscrowCaDays = 3650;

struct EscrowCertOptions {
  std::string subject{kDefaultEscrowSubject};  // --subject: the fleet certificate's CN
  std::uint32_t days = kDefaultEscrowDays;     // --days
  std::uint32_t bits = hsm::kCmsKeyBits2048;   // --bits: 2048 or 3072
  std::int64_t now = 0;                        // unix seconds; 0: the system clock
};

struct EscrowCertReport {
  bool ca_created = false;
  std::uint32_t ca_version = 0;
  std::uint32_t key_version = 0;
  vault::IssuedCertificate certificate;  // the new fleet certificate, now current
  vault::AuditHead head;                 // after the ceremony's record
};

// REQUIRES: vault.audit started. kInvalidArgument for bad options (nothing is generated);
// otherwise the Status of the HSM, the certificate or the audited commit. A failure after a
// key was generated leaves that key unused on the token (never recorded, never reused).
Result<EscrowCertReport> CreateEscrowCert(const EscrowCertOptions& options, const Vault& vault);

// CreateEscrowCert in two halves, for a ceremony that records the certificate in its own
// audited transaction (init): the keys and certificates made in the HSM, then the change that
// records them (CA row if new, the fleet row, made current) and the audit detail.
struct PreparedEscrowCert {
  EscrowCertReport report;  // head unset
  std::optional<storage::EscrowCaRow> new_ca;
  storage::EscrowCertRow fleet;
  std::string detail;  // JSON object text
};
Result<PreparedEscrowCert> PrepareEscrowCert(const EscrowCertOptions& options,
                                             hsm::KeyService& keys, storage::Store& store);
Status RecordEscrowCert(storage::WriteTxn& txn, const PreparedEscrowCert& prepared);

// Every fleet certificate with its state, by key version.
Result<std::vector<storage::EscrowCertRow>> ListEscrowCerts(storage::Store& store);

// Retires the fleet certificate `serial_hex` (any case). kNotFound if unknown;
// kFailedPrecondition if it is current (or a device certificate). Audited. REQUIRES:
// vault.audit started.
Status RetireEscrowCert(std::string_view serial_hex, const Vault& vault);

// The transcripts vaultctl prints.
std::string RenderEscrowCert(const EscrowCertReport& report);
std::string RenderEscrowCertList(const std::vector<storage::EscrowCertRow>& rows);

// "2026-12-06T16:00:00Z".
std::string UtcTimestamp(std::int64_t unix_seconds);

}  // namespace escrow::ops
