// `vaultctl audit-signing-key create` on a vault made by vaultctl init (tests/tools'
// CtlFixture): the next version in the SoftHSMv2 token, its public key printed and recorded in
// the transaction of its ceremony record; and a service opened afterwards signing its groups'
// heads with it.
#include "vault/ops/audit_signing_key.h"

#include <string>
#include <vector>

#include "tests/tools/ctl_fixture.h"
#include "vault/signed_checkpoint.h"

namespace escrow::ops {
namespace {

using escrow::testing::CtlFixture;
using escrow::testing::CtlRun;

std::string PemIn(const std::string& out) {
  const std::size_t begin = out.find("-----BEGIN PUBLIC KEY-----");
  const std::size_t end = out.find("-----END PUBLIC KEY-----");
  REQUIRE(begin != std::string::npos);
  REQUIRE(end != std::string::npos);
  return out.substr(begin, end + 25 - begin);
}

TEST_CASE("audit-signing-key create makes the next version, prints its public key and audits it",
          "[ops][checkpoints][hsm]") {
  CtlFixture f;
  const CtlRun first = f.Ctl("audit-signing-key create");
  INFO(first.err);
  REQUIRE(first.exit_code == 0);
  CHECK(first.out.find("label: escrow-audit-sign-v1") != std::string::npos);
  CHECK(first.out.find("version: 1\n") != std::string::npos);
  const std::string pem1 = PemIn(first.out);
  const CtlRun second = f.Ctl("audit-signing-key create");
  REQUIRE(second.exit_code == 0);
  CHECK(second.out.find("label: escrow-audit-sign-v2") != std::string::npos);
  CHECK(PemIn(second.out) != pem1);
  CHECK(f.Ctl("audit verify").exit_code == 0);

  f.Open();
  // The token holds both, sign only; the database both public keys, as printed.
  Result<hsm::EscrowKeyInfo> v1 = f.keys().FindEscrowKey(hsm::EscrowKeyKind::kAuditSign, 1);
  REQUIRE(v1.ok());
  CHECK_FALSE(v1->extractable);
  Result<std::vector<storage::AuditSigningKeyRow>> keys = storage::ReadValue(
      f.store(), [](storage::ReadTxn& txn) { return txn.audit_checkpoints().SigningKeys(); });
  REQUIRE(keys.ok());
  REQUIRE(keys->size() == 2);
  CHECK((*keys)[0].public_key == v1->public_key_der);
  CHECK(vault::PublicKeyFromPem(pem1).value() == v1->public_key_der);
  // Each creation is a ceremony record.
  Result<std::vector<storage::AuditRow>> records = storage::ReadValue(
      f.store(), [](storage::ReadTxn& txn) { return txn.audit().List(0, 1000, std::nullopt); });
  REQUIRE(records.ok());
  int ceremonies = 0;
  for (const storage::AuditRow& r : *records) {
    if (r.action != "ceremony.audit_signing_key.create") continue;
    ++ceremonies;
    CHECK(r.role == "operator");
    CHECK(r.detail.find("escrow-audit-sign-v") != std::string::npos);
  }
  CHECK(ceremonies == 2);

  // A service opened now signs its first group's head with the newest version.
  REQUIRE(f.audit()
              .Append(vault::AuditEvent{"u", "user", "test.event", "", "ok", "", "x",
                                        std::nullopt})
              .ok());
  Result<std::vector<storage::AuditCheckpointRow>> rows = storage::ReadValue(
      f.store(), [](storage::ReadTxn& txn) { return txn.audit_checkpoints().List(0, 10); });
  REQUIRE(rows.ok());
  REQUIRE(rows->size() == 1);
  CHECK((*rows)[0].key_version == 2u);
  CHECK((*rows)[0].seq == f.audit().head().seq);
  CHECK(vault::VerifyCheckpointSignature(vault::PublicKeyFromPem(PemIn(second.out)).value(),
                                         (*rows)[0])
            .ok());
}

}  // namespace
}  // namespace escrow::ops
