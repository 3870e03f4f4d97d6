// Signed audit checkpoints (vault/signed_checkpoint.h) on a real SoftHSMv2 token and SQLite
// file: the exact bytes signed, signing once a key is recorded (looked for every 10 s of the
// clock), at most once a second, in the group's transaction, a failure to sign that does not
// fail the group, and GET /v1/audit/checkpoints as the service answers it.
#include "vault/signed_checkpoint.h"

#include <chrono>

#include <catch2/catch.hpp>

#include "storage/store.h"
#include "tests/vault/fake_vault.h"
#include "tests/vault/vault_fixture.h"

namespace escrow::vault {
namespace {

using std::chrono::milliseconds;
using testing::VaultFixture;

void Commit(VaultFixture& f, const std::string& detail) {
  REQUIRE(f.audit()
              .Append(AuditEvent{"u", "user", "test.event", "", "ok", "", detail, std::nullopt})
              .ok());
}

std::vector<storage::AuditCheckpointRow> Checkpoints(VaultFixture& f) {
  Result<std::vector<storage::AuditCheckpointRow>> rows = storage::ReadValue(
      f.store(), [](storage::ReadTxn& txn) { return txn.audit_checkpoints().List(0, 1000); });
  REQUIRE(rows.ok());
  return *rows;
}

storage::AuditRow Record(VaultFixture& f, std::uint64_t seq) {
  Result<std::optional<storage::AuditRow>> row =
      storage::ReadValue(f.store(), [&](storage::ReadTxn& txn) { return txn.audit().Get(seq); });
  REQUIRE(row.ok());
  REQUIRE(row->has_value());
  return **row;
}

// As `vaultctl audit-signing-key create` does: the key in the token, its public key recorded.
Bytes RecordKey(VaultFixture& f, std::uint32_t version, bool on_token = true) {
  Bytes spki;
  if (on_token) {
    Result<hsm::EscrowKeyInfo> key =
        f.keys().GenerateSigningKey(hsm::EscrowKeyKind::kAuditSign, version);
    REQUIRE(key.ok());
    spki = key->public_key_der;
  } else {
    // Another version's public key: the row exists, the private key does not.
    Result<hsm::EscrowKeyInfo> key = f.keys().FindEscrowKey(hsm::EscrowKeyKind::kAuditSign, 1);
    REQUIRE(key.ok());
    spki = key->public_key_der;
  }
  REQUIRE(f.store()
              .Write([&](storage::WriteTxn& txn) {
                return txn.audit_checkpoints().AddSigningKey({version, spki, 1});
              })
              .ok());
  return spki;
}

TEST_CASE("The signed bytes are API.md's: domain, format 1, seq, hash, time in ms, big-endian",
          "[vault][checkpoints]") {
  Bytes hash(32);
  for (std::size_t i = 0; i < hash.size(); ++i) hash[i] = static_cast<std::uint8_t>(i);
  const Bytes m = CheckpointMessage(0x0102030405060708ULL, hash, 0x0000018C2A3B4C5DLL);
  const std::string domain = "escrow-checkpoint";
  REQUIRE(m.size() == domain.size() + 1 + 8 + 32 + 8);
  CHECK(std::string(m.begin(), m.begin() + 17) == domain);
  CHECK(m[17] == 1);
  CHECK(Bytes(m.begin() + 18, m.begin() + 26) == Bytes{1, 2, 3, 4, 5, 6, 7, 8});
  CHECK(Bytes(m.begin() + 26, m.begin() + 58) == hash);
  CHECK(Bytes(m.begin() + 58, m.end()) == Bytes{0, 0, 0x01, 0x8C, 0x2A, 0x3B, 0x4C, 0x5D});
}

TEST_CASE("Once a signing key is recorded, committed heads are signed at most once a second",
          "[vault][checkpoints][hsm]") {
  VaultFixture f;
  Commit(f, "before any key");  // the signer looks now and finds none
  CHECK(Checkpoints(f).empty());
  const Bytes spki = RecordKey(f, 1);
  Commit(f, "key recorded, not yet seen");
  CHECK(Checkpoints(f).empty());

  f.clock().Advance(kSigningKeyRecheck);  // within 10 s the vault looks again
  Commit(f, "signed");
  std::vector<storage::AuditCheckpointRow> rows = Checkpoints(f);
  REQUIRE(rows.size() == 1);
  const storage::AuditRow head = Record(f, rows[0].seq);
  CHECK(rows[0].seq == f.audit().head().seq);
  CHECK(rows[0].hash == head.hash);
  CHECK(rows[0].at_ms == head.time_ms);
  CHECK(rows[0].key_version == 1u);
  CHECK(VerifyCheckpointSignature(spki, rows[0]).ok());
  storage::AuditCheckpointRow forged = rows[0];
  forged.at_ms += 1;
  CHECK(VerifyCheckpointSignature(spki, forged).code() == Code::kDataLoss);

  Commit(f, "within the second");
  CHECK(Checkpoints(f).size() == 1);
  f.clock().Advance(milliseconds(kCheckpointSignIntervalMs));
  Commit(f, "a second later");
  rows = Checkpoints(f);
  REQUIRE(rows.size() == 2);
  CHECK(rows[1].seq == f.audit().head().seq);
  CHECK(VerifyCheckpointSignature(spki, rows[1]).ok());
  CHECK(f.audit().Verify()->ok);
}

TEST_CASE("A newer key signs once seen, and a key that cannot sign skips the checkpoint only",
          "[vault][checkpoints][hsm]") {
  VaultFixture f;
  const Bytes v1 = RecordKey(f, 1);
  f.clock().Advance(kSigningKeyRecheck);
  Commit(f, "signed by v1");
  REQUIRE(Checkpoints(f).size() == 1);
  CHECK(Checkpoints(f)[0].key_version == 1u);

  // Version 2 recorded but absent from the token: the HSM cannot sign with it. The group
  // commits all the same; no checkpoint is stored for it.
  RecordKey(f, 2, /*on_token=*/false);
  f.clock().Advance(kSigningKeyRecheck);
  const std::uint64_t before = f.audit().head().seq;
  Commit(f, "not signed");
  CHECK(f.audit().head().seq == before + 1);
  CHECK(Checkpoints(f).size() == 1);
  CHECK(f.audit().Verify()->ok);

  // The key appears on the token: the vault looks again at once after a missing key.
  REQUIRE(f.keys().GenerateSigningKey(hsm::EscrowKeyKind::kAuditSign, 2).ok());
  Result<hsm::EscrowKeyInfo> v2 = f.keys().FindEscrowKey(hsm::EscrowKeyKind::kAuditSign, 2);
  REQUIRE(v2.ok());
  f.clock().Advance(milliseconds(kCheckpointSignIntervalMs));
  Commit(f, "signed by v2");
  const std::vector<storage::AuditCheckpointRow> rows = Checkpoints(f);
  REQUIRE(rows.size() == 2);
  CHECK(rows[1].key_version == 2u);
  CHECK(VerifyCheckpointSignature(v2->public_key_der, rows[1]).ok());
  CHECK(VerifyCheckpointSignature(v1, rows[1]).code() == Code::kDataLoss);
}

TEST_CASE("The checkpoint listing pages for admin and auditor with every public key",
          "[vault][checkpoints][hsm]") {
  VaultFixture f;
  const Bytes spki = RecordKey(f, 1);
  f.clock().Advance(kSigningKeyRecheck);
  for (int i = 0; i < 3; ++i) {
    if (i > 0) f.clock().Advance(milliseconds(kCheckpointSignIntervalMs));
    Commit(f, "c" + std::to_string(i));
  }
  // The listing's own audit record commits within the second: its head is not signed.
  REQUIRE(Checkpoints(f).size() == 3);
  Result<CheckpointPage> page = f.service().ListCheckpoints(testing::Auditor(), 0, 2);
  REQUIRE(page.ok());
  REQUIRE(page->checkpoints.size() == 2);
  REQUIRE(page->next_after.has_value());
  CHECK(*page->next_after == page->checkpoints[1].seq);
  REQUIRE(page->public_keys.count(1) == 1);
  CHECK(PublicKeyFromPem(page->public_keys.at(1)).value() == spki);
  Result<CheckpointPage> rest =
      f.service().ListCheckpoints(testing::Admin("ad"), *page->next_after, 2);
  REQUIRE(rest.ok());
  CHECK(rest->checkpoints.size() == 1);
  CHECK_FALSE(rest->next_after.has_value());

  Result<CheckpointPage> denied = f.service().ListCheckpoints(testing::Helpdesk(), 0, 10);
  CHECK(denied.status().code() == Code::kPermissionDenied);
  Result<CheckpointPage> bad = f.service().ListCheckpoints(testing::Admin("ad"), 0, 1001);
  CHECK(bad.status().code() == Code::kInvalidArgument);
  CHECK(bad.status().reason() == "invalid_request");
}

TEST_CASE("An HSM that fails to sign, or a checkpoint row that fails, never fails the group",
          "[vault][checkpoints]") {
  testing::FakeVault v;
  Result<hsm::EscrowKeyInfo> key =
      v.fake_keys.GenerateSigningKey(hsm::EscrowKeyKind::kAuditSign, 1);
  REQUIRE(key.ok());
  REQUIRE(v.fake_store
              .Write([&](storage::WriteTxn& txn) {
                return txn.audit_checkpoints().AddSigningKey({1, key->public_key_der, 1});
              })
              .ok());
  auto checkpoints = [&v] {
    Result<std::vector<storage::AuditCheckpointRow>> rows = storage::ReadValue(
        v.fake_store, [](storage::ReadTxn& txn) { return txn.audit_checkpoints().List(0, 100); });
    REQUIRE(rows.ok());
    return *rows;
  };
  const vault::Caller mdm = vault::Caller::Mdm("mdm");
  v.clock.Advance(kSigningKeyRecheck);

  v.keys.FailOn(testing::KeyOp::kEcdsaSign, Status::Unavailable("the HSM is gone"));
  CHECK(v.service->StoreKey(mdm, "mac-1", SecretBytes::CopyOf(testing::kSecondKey), nullptr).ok());
  CHECK(v.keys.calls(testing::KeyOp::kEcdsaSign) == 1);
  CHECK(checkpoints().empty());
  v.keys.Heal(testing::KeyOp::kEcdsaSign);

  v.clock.Advance(milliseconds(kCheckpointSignIntervalMs));
  v.store.FailOn(testing::StoreOp::kCheckpointWrite, Status::AlreadyExists("refused"));
  CHECK(
      v.service->commits()
          .Append(AuditEvent{"u", "user", "test.event", "", "ok", "", "row refused", std::nullopt})
          .ok());
  CHECK(checkpoints().empty());
  v.store.Heal(testing::StoreOp::kCheckpointWrite);

  v.clock.Advance(milliseconds(kCheckpointSignIntervalMs));
  CHECK(v.service->commits()
            .Append(AuditEvent{"u", "user", "test.event", "", "ok", "", "signed", std::nullopt})
            .ok());
  const std::vector<storage::AuditCheckpointRow> rows = checkpoints();
  REQUIRE(rows.size() == 1);
  CHECK(VerifyCheckpointSignature(key->public_key_der, rows[0]).ok());
  CHECK(v.service->VerifyAudit(testing::Admin("ad"))->ok);
}

}  // namespace
}  // namespace escrow::vault
