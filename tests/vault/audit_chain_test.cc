#include "vault/audit_chain.h"

#include <catch2/catch.hpp>

#include "base/utf8.h"
#include "tests/vault/vault_fixture.h"

namespace escrow::vault {
namespace {

using testing::Auditor;
using testing::VaultFixture;

void Fill(VaultFixture& f, int n) {
  for (int i = 0; i < n; ++i) {
    REQUIRE(f.audit()
                .Append(AuditEvent{"alice", "user", "test.event", "dev-" + std::to_string(i), "ok",
                                   "", "n=" + std::to_string(i), std::nullopt})
                .ok());
  }
}

TEST_CASE("A fresh chain verifies, reports its head and logs checkpoints", "[vault][audit]") {
  VaultFixture f;
  Fill(f, 5);
  Result<AuditVerifyReport> r = f.audit().Verify();
  REQUIRE(r.ok());
  CHECK(r->ok);
  CHECK(r->records == 5);
  CHECK(r->head.seq == 5);
  CHECK(r->head.hash == f.audit().head().hash);
  REQUIRE_FALSE(f.checkpoints().empty());
  CHECK(f.checkpoints().back().seq == 5);
  CHECK(f.checkpoints().back().hash == r->head.hash);
}

TEST_CASE("Editing, deleting or reordering records names the first bad one",
          "[vault][audit]") {
  struct Case {
    const char* sql;
    std::uint64_t first_bad;
  };
  for (const Case& c : {
           Case{"UPDATE audit SET detail='n=99' WHERE seq=3;", 3},
           Case{"UPDATE audit SET outcome='denied' WHERE seq=1;", 1},
           Case{"UPDATE audit SET time_ms=time_ms+1 WHERE seq=5;", 5},
           Case{"DELETE FROM audit WHERE seq=4;", 4},
           Case{"UPDATE audit SET seq=seq+100 WHERE seq IN (2,3); "
                "UPDATE audit SET seq=3 WHERE seq=102; UPDATE audit SET seq=2 WHERE seq=103;",
                2},
           Case{"UPDATE audit SET mac=zeroblob(32) WHERE seq=6;", 6},
       }) {
    INFO(c.sql);
    VaultFixture f;
    Fill(f, 6);
    REQUIRE(f.audit().Verify()->ok);
    f.Sql(c.sql);
    Result<AuditVerifyReport> r = f.audit().Verify();
    REQUIRE(r.ok());
    CHECK_FALSE(r->ok);
    CHECK(r->first_bad == c.first_bad);
    CHECK_FALSE(r->problem.empty());
  }
}

TEST_CASE("Loading the head refuses a log whose newest record fails its MAC", "[vault][audit]") {
  VaultFixture f;
  Fill(f, 2);
  f.Sql("UPDATE audit SET mac=zeroblob(32) WHERE seq=2;");
  AuditChain second(f.keys(), f.store(), 1);
  Status s = second.LoadHead();
  CHECK(s.code() == Code::kDataLoss);
  f.Sql("UPDATE audit SET mac=NULL WHERE seq=2;");
  AuditChain third(f.keys(), f.store(), 1);
  CHECK(third.LoadHead().code() == Code::kDataLoss);
}

TEST_CASE("Recomputing the chain after an edit fails the group MAC", "[vault][audit]") {
  VaultFixture f;
  Fill(f, 3);
  // Rewrite record 2 and recompute the hashes of 2 and 3 in software, as an attacker could:
  // only the HSM's MAC on the head catches it.
  std::vector<storage::AuditRow> rows = *storage::ReadValue(
      f.store(), [](storage::ReadTxn& txn) { return txn.audit().List(0, 10, std::nullopt); });
  rows[1].detail = "forged";
  Bytes prev = rows[0].hash;
  for (std::size_t i = 1; i < rows.size(); ++i) {
    rows[i].hash = ChainHash(prev, EncodeAuditRecord(rows[i]));
    prev = rows[i].hash;
  }
  f.Sql("UPDATE audit SET detail='forged', hash=X'" + HexEncode(rows[1].hash) +
        "' WHERE seq=2; UPDATE audit SET hash=X'" + HexEncode(rows[2].hash) + "' WHERE seq=3;");
  Result<AuditVerifyReport> r = f.audit().Verify();
  REQUIRE(r.ok());
  CHECK_FALSE(r->ok);
  CHECK(r->first_bad.has_value());
  CHECK(*r->first_bad <= 3u);
}

TEST_CASE("Truncation and rollback are caught against a recorded head", "[vault][audit]") {
  VaultFixture f;
  Fill(f, 3);
  const AuditHead at3 = f.audit().head();
  // A rollback to an earlier, consistent state: every remaining group is still sealed.
  f.Close();
  f.Sql("DELETE FROM audit WHERE seq > 1;");
  f.Open();
  Result<AuditVerifyReport> plain = f.audit().Verify();
  REQUIRE(plain.ok());
  CHECK(plain->ok);  // self-consistent, which is why checkpoints exist
  Result<AuditVerifyReport> r = f.audit().Verify(at3);
  REQUIRE(r.ok());
  CHECK_FALSE(r->ok);
  CHECK(r->problem.find("truncated or rolled back") != std::string::npos);
  // A rewritten history with the same length fails too.
  Fill(f, 2);
  r = f.audit().Verify(at3);
  CHECK_FALSE(r->ok);
  CHECK(r->first_bad == 3u);
}

TEST_CASE("Every audit field is stored as clean UTF-8 of bounded length, whatever is passed",
          "[vault][audit]") {
  VaultFixture f;
  std::string hostile = "\xff";
  for (int i = 0; i < 256; ++i) hostile.push_back(static_cast<char>(i));
  hostile += std::string(8000, '\xff');
  REQUIRE(f.audit()
              .Append(AuditEvent{hostile, hostile, hostile, hostile, hostile, hostile, hostile, std::nullopt})
              .ok());
  REQUIRE(f.audit().Append(AuditEvent{"alice", "user", "ok.event", "mac-1", "ok", "", "n=1", std::nullopt}).ok());
  Result<std::vector<storage::AuditRow>> rows = storage::ReadValue(
      f.store(), [](storage::ReadTxn& txn) { return txn.audit().List(0, 10, std::nullopt); });
  REQUIRE(rows.ok());
  REQUIRE(rows->size() == 2);
  const AuditRecord r = ToAuditRecord((*rows)[0]);
  for (const std::string* field : {&r.event.actor, &r.event.role, &r.event.action,
                                   &r.event.device_id, &r.event.outcome, &r.event.reason,
                                   &r.event.detail}) {
    CHECK(IsCleanUtf8(AsBytes(*field)));
    CHECK(field->rfind("\\xff", 0) == 0);  // escaped, not dropped
  }
  CHECK(r.event.actor.size() <= 320);
  CHECK(r.event.role.size() <= 64);
  CHECK(r.event.action.size() <= 64);
  CHECK(r.event.device_id.size() <= 160);
  CHECK(r.event.outcome.size() <= 16);
  CHECK(r.event.reason.size() <= 640);
  CHECK(r.event.detail.size() <= 65536);
  // Clean fields are kept as they are.
  const AuditRecord ok = ToAuditRecord((*rows)[1]);
  CHECK(ok.event.actor == "alice");
  CHECK(ok.event.device_id == "mac-1");
  Result<AuditVerifyReport> v = f.audit().Verify();
  REQUIRE(v.ok());
  CHECK(v->ok);
}

TEST_CASE("A ceremony's JSON detail is stored unchanged, escapes and length alike",
          "[vault][audit]") {
  VaultFixture f;
  std::string detail = R"({"out":"C:\backups\"q"","share_checks":[)";
  for (int i = 0; i < 255; ++i) detail += (i ? ",\"" : "\"") + std::string(64, 'a') + "\"";
  detail += "]}";
  REQUIRE(detail.size() > 16000);
  REQUIRE(f.audit()
              .Append(AuditEvent{"root", "operator", "ceremony.backup", "", "ok", "", detail, std::nullopt})
              .ok());
  Result<std::vector<storage::AuditRow>> rows = storage::ReadValue(
      f.store(), [](storage::ReadTxn& txn) { return txn.audit().List(0, 10, std::nullopt); });
  REQUIRE(rows.ok());
  REQUIRE(rows->size() == 1);
  CHECK(ToAuditRecord(rows->front()).event.detail == detail);
}

}  // namespace
}  // namespace escrow::vault
