// ops::CreateEscrowCert, ListEscrowCerts and RetireEscrowCert on a vault made by vaultctl init
// (tests/tools' CtlFixture): keys in its SoftHSMv2 token, certificates in its SQLite file,
// each step audited in the chain.
#include "vault/ops/escrow_cert.h"

#include <string>
#include <vector>

#include <openssl/x509.h>

#include "base/ssl_ptr.h"
#include "tests/tools/ctl_fixture.h"
#include "vault/ops/audit_ops.h"

namespace escrow::ops {
namespace {

using escrow::testing::CtlFixture;

Vault ViewOf(CtlFixture& f) { return Vault{f.keys(), f.store(), f.audit()}; }

SslPtr<X509> Parse(const Bytes& der) {
  const unsigned char* p = der.data();
  SslPtr<X509> cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  REQUIRE(cert);
  return cert;
}

storage::EscrowCaRow NewestCa(CtlFixture& f) {
  std::optional<storage::EscrowCaRow> ca;
  REQUIRE(f.store()
              .Read([&](storage::ReadTxn& txn) -> Status {
                ESCROW_ASSIGN_OR_RETURN(ca, txn.escrow_certs().NewestCa());
                return Status::Ok();
              })
              .ok());
  REQUIRE(ca.has_value());
  return *ca;
}

std::size_t CountKeys(CtlFixture& f, hsm::EscrowKeyKind kind) {
  Result<std::vector<hsm::EscrowKeyInfo>> keys = f.keys().ListEscrowKeys();
  REQUIRE(keys.ok());
  std::size_t n = 0;
  for (const auto& k : *keys) n += k.kind == kind ? 1 : 0;
  return n;
}

TEST_CASE("escrow-cert create makes the CA once and a current fleet certificate each time",
          "[ops][escrow_cert][hsm]") {
  CtlFixture f;
  f.Open();
  const std::size_t cas_before = CountKeys(f, hsm::EscrowKeyKind::kCa);
  const std::size_t keys_before = CountKeys(f, hsm::EscrowKeyKind::kCms);
  Result<std::vector<storage::EscrowCertRow>> before = ListEscrowCerts(f.store());
  REQUIRE(before.ok());

  EscrowCertOptions o;
  o.subject = "Example Corp FileVault";
  o.days = 30;
  Result<EscrowCertReport> first = CreateEscrowCert(o, ViewOf(f));
  INFO(first.status().ToString());
  REQUIRE(first.ok());
  CHECK(first->certificate.not_after - first->certificate.not_before == 30LL * 86400);
  const std::string text = RenderEscrowCert(*first);
  CHECK(text.find("serial: " + first->certificate.serial_hex) != std::string::npos);
  CHECK(text.find("sha256: " + first->certificate.sha256_hex) != std::string::npos);
  CHECK(CountKeys(f, hsm::EscrowKeyKind::kCms) == keys_before + 1);

  o.bits = hsm::kCmsKeyBits3072;
  Result<EscrowCertReport> second = CreateEscrowCert(o, ViewOf(f));
  REQUIRE(second.ok());
  CHECK_FALSE(second->ca_created);  // the CA is made once
  CHECK(second->ca_version == first->ca_version);
  CHECK(second->key_version == first->key_version + 1);
  CHECK(CountKeys(f, hsm::EscrowKeyKind::kCa) == std::max<std::size_t>(cas_before, 1));
  CHECK(CountKeys(f, hsm::EscrowKeyKind::kCms) == keys_before + 2);

  // Both verify under the recorded CA; the newer is current, the older still active.
  const storage::EscrowCaRow ca = NewestCa(f);
  SslPtr<X509> ca_cert = Parse(ca.der);
  for (const Bytes& der : {first->certificate.der, second->certificate.der}) {
    CHECK(X509_verify(Parse(der).get(), X509_get0_pubkey(ca_cert.get())) == 1);
  }
  Result<std::vector<storage::EscrowCertRow>> listed = ListEscrowCerts(f.store());
  REQUIRE(listed.ok());
  REQUIRE(listed->size() == before->size() + 2);
  const storage::EscrowCertRow& newest = listed->back();
  const storage::EscrowCertRow& older = (*listed)[listed->size() - 2];
  CHECK(newest.serial == second->certificate.serial_hex);
  CHECK(newest.state == storage::EscrowCertState::kCurrent);
  CHECK(older.serial == first->certificate.serial_hex);
  CHECK(older.state == storage::EscrowCertState::kActive);
  CHECK(RenderEscrowCertList(*listed).find(newest.serial + "  current") != std::string::npos);

  Result<vault::AuditVerifyReport> verified = VerifyAudit({}, ViewOf(f));
  REQUIRE(verified.ok());
  CHECK(verified->ok);

  SECTION("retire refuses the current certificate and retires an older one") {
    CHECK(RetireEscrowCert(newest.serial, ViewOf(f)).code() == Code::kFailedPrecondition);
    CHECK(RetireEscrowCert(std::string(32, 'a'), ViewOf(f)).code() == Code::kNotFound);
    std::string upper = older.serial;
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    REQUIRE(RetireEscrowCert(upper, ViewOf(f)).ok());
    Result<std::vector<storage::EscrowCertRow>> after = ListEscrowCerts(f.store());
    REQUIRE(after.ok());
    CHECK((*after)[after->size() - 2].state == storage::EscrowCertState::kRetired);
    CHECK(after->back().state == storage::EscrowCertState::kCurrent);
    Result<vault::AuditVerifyReport> again = VerifyAudit({}, ViewOf(f));
    REQUIRE(again.ok());
    CHECK(again->ok);
  }
}

TEST_CASE("escrow-cert create refuses bad options before generating anything",
          "[ops][escrow_cert][hsm]") {
  CtlFixture f;
  f.Open();
  const std::size_t keys_before = CountKeys(f, hsm::EscrowKeyKind::kCms);
  EscrowCertOptions o;
  o.bits = 1024;
  CHECK(CreateEscrowCert(o, ViewOf(f)).status().code() == Code::kInvalidArgument);
  o = EscrowCertOptions{};
  o.days = 0;
  CHECK(CreateEscrowCert(o, ViewOf(f)).status().code() == Code::kInvalidArgument);
  o = EscrowCertOptions{};
  o.subject = std::string(65, 'x');
  CHECK(CreateEscrowCert(o, ViewOf(f)).status().code() == Code::kInvalidArgument);
  CHECK(CountKeys(f, hsm::EscrowKeyKind::kCms) == keys_before);
}

}  // namespace
}  // namespace escrow::ops
