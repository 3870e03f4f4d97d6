#include "vault/ops/audit_signing_key.h"

#include <algorithm>
#include <array>
#include <sstream>
#include <vector>

#include <boost/json.hpp>
#include <openssl/sha.h>

#include "base/clock.h"
#include "vault/ops/ceremony_record.h"
#include "vault/signed_checkpoint.h"

namespace escrow::ops {

Result<AuditSigningKeyReport> CreateAuditSigningKey(const Vault& v) {
  // The next version neither the database nor the token has used.
  ESCROW_ASSIGN_OR_RETURN(const std::vector<storage::AuditSigningKeyRow> recorded,
                          storage::ReadValue(v.store, [](storage::ReadTxn& txn) {
                            return txn.audit_checkpoints().SigningKeys();
                          }));
  ESCROW_ASSIGN_OR_RETURN(const std::vector<hsm::EscrowKeyInfo> on_token, v.keys.ListEscrowKeys());
  std::uint32_t highest = recorded.empty() ? 0 : recorded.back().version;
  for (const hsm::EscrowKeyInfo& k : on_token) {
    if (k.kind == hsm::EscrowKeyKind::kAuditSign) highest = std::max(highest, k.version);
  }
  if (highest == UINT32_MAX) {
    return Status::FailedPrecondition("audit signing key versions exhausted");
  }
  AuditSigningKeyReport report;
  report.version = highest + 1;
  ESCROW_ASSIGN_OR_RETURN(
      const hsm::EscrowKeyInfo key,
      v.keys.GenerateSigningKey(hsm::EscrowKeyKind::kAuditSign, report.version));
  report.label = key.label;
  ESCROW_ASSIGN_OR_RETURN(report.public_key_pem, vault::PublicKeyPem(key.public_key_der));
  std::array<std::uint8_t, SHA256_DIGEST_LENGTH> digest{};
  SHA256(key.public_key_der.data(), key.public_key_der.size(), digest.data());
  report.sha256 = HexEncode(digest);

  boost::json::object detail;
  detail["key"] = report.label;
  detail["version"] = report.version;
  detail["public_key_sha256"] = report.sha256;
  const storage::AuditSigningKeyRow row{report.version, key.public_key_der,
                                        ToUnixMillis(Clock::System().Now())};
  auto record = [&row](storage::WriteTxn& txn) {
    return txn.audit_checkpoints().AddSigningKey(row);
  };
  ESCROW_RETURN_IF_ERROR(RecordCeremony(v.audit, "ceremony.audit_signing_key.create",
                                        boost::json::serialize(detail), record));
  report.head = v.audit.head();
  return report;
}

std::string RenderAuditSigningKey(const AuditSigningKeyReport& r) {
  std::ostringstream out;
  out << "audit signing key created\n"
      << "  label: " << r.label << "  EC P-256, sign only, never extractable\n"
      << "  version: " << r.version << "\n"
      << "  public key sha256: " << r.sha256 << "\n"
      << "  audit head: " << r.head.seq << ":" << r.head.hash << "\n"
      << "vaultd signs checkpoints with it within " << vault::kSigningKeyRecheck.count() / 1000
      << " s. Public key:\n"
      << r.public_key_pem;
  return out.str();
}

}  // namespace escrow::ops
