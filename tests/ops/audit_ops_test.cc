// ops::ParseAuditHead, VerifyAudit, ExportAudit and BackupDatabase called directly on a vault
// made by vaultctl init (tests/tools' CtlFixture).

#include "vault/ops/audit_ops.h"

#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "tests/tools/ctl_fixture.h"
#include "vault/ops/db_backup.h"
#include "vault/ops/status.h"

namespace escrow::ops {
namespace {

namespace fs = std::filesystem;
using escrow::testing::CtlFixture;
using escrow::testing::FileMode;

Vault ViewOf(CtlFixture& f) { return Vault{f.keys(), f.store(), f.audit()}; }

TEST_CASE("ParseAuditHead takes SEQ:HASH with 64 lowercase hex digits only", "[ops][audit]") {
  const std::string hash(64, 'a');
  Result<vault::AuditHead> head = ParseAuditHead("11:" + hash);
  REQUIRE(head.ok());
  CHECK(head->seq == 11);
  CHECK(head->hash == hash);
  for (const std::string& bad : std::vector<std::string>{
           "", ":" + hash, "11" + hash, "x1:" + hash, "11:" + hash + "0",
           "11:" + std::string(64, 'A'), "11:XYZ", std::string(20, '1') + ":" + hash}) {
    INFO(bad);
    CHECK(ParseAuditHead(bad).status().code() == Code::kInvalidArgument);
  }
}

TEST_CASE("VerifyAudit walks the chain and catches a head older than the one kept outside",
          "[ops][audit][hsm]") {
  CtlFixture f;
  f.Open();
  f.Populate(0, 5);
  for (std::size_t i = 0; i < 5; ++i) REQUIRE(f.Retrieve(i) == CtlFixture::KeyFor(i));
  Result<vault::AuditVerifyReport> report = VerifyAudit({}, ViewOf(f));
  REQUIRE(report.ok());
  CHECK(report->ok);
  CHECK(report->head.seq == 7);  // init, the upgrade of the populated rows, 5 retrievals
  CHECK(report->head.hash == f.audit().head().hash);
  CHECK(VerifyAudit({report->head}, ViewOf(f))->ok);
  vault::AuditHead later = report->head;
  later.seq += 1;
  Result<vault::AuditVerifyReport> rolled_back = VerifyAudit({later}, ViewOf(f));
  REQUIRE(rolled_back.ok());
  CHECK_FALSE(rolled_back->ok);
}

TEST_CASE("ExportAudit writes one JSON object per record, oldest first, from a time on",
          "[ops][audit][hsm]") {
  CtlFixture f;
  f.Open();
  f.Populate(0, 3);
  for (std::size_t i = 0; i < 3; ++i) REQUIRE(f.Retrieve(i) == CtlFixture::KeyFor(i));
  std::ostringstream out;
  Result<AuditExportReport> report = ExportAudit({}, f.store(), out);
  REQUIRE(report.ok());
  CHECK(report->records == 5);  // init, the upgrade of the populated rows, three releases
  std::istringstream lines(out.str());
  std::uint64_t seq = 0;
  for (std::string line; std::getline(lines, line);) {
    const boost::json::object o = boost::json::parse(line).as_object();
    CHECK(o.at("seq").as_int64() == static_cast<std::int64_t>(++seq));
    CHECK(o.at("hash").as_string().size() == 64);
    CHECK(o.at("sealed").is_bool());
  }
  CHECK(seq == 5);
  std::ostringstream future;
  AuditExportOptions since;
  since.since = ParseRfc3339("2200-01-01T00:00:00Z");
  Result<AuditExportReport> none = ExportAudit(since, f.store(), future);
  REQUIRE(none.ok());
  CHECK(none->records == 0);
  CHECK(future.str().empty());
}

TEST_CASE("BackupDatabase copies online, records the head it holds, and never overwrites",
          "[ops][db][hsm]") {
  CtlFixture f;
  f.Open();
  f.Populate(0, 10);
  const fs::path copy = f.dir().path() / "copy.db";
  Result<DbBackupReport> report = BackupDatabase({copy.string()}, ViewOf(f));
  INFO(report.status().ToString());
  REQUIRE(report.ok());
  CHECK(report->path == copy.string());
  // The copy holds init and the upgrade of the populated rows; its own record comes after.
  CHECK(report->head.seq == 2);
  CHECK(f.audit().head().seq == 3);
  CHECK(report->text.find("audit head in the backup: 2:" + report->head.hash) != std::string::npos);
  CHECK(FileMode(copy) == 0600);
  CHECK(BackupDatabase({copy.string()}, ViewOf(f)).status().code() == Code::kAlreadyExists);

  Result<StatusReport> status = DescribeStatus(ViewOf(f));
  REQUIRE(status.ok());
  CHECK(status->last_backup.find(copy.string()) != std::string::npos);
  CHECK(status->last_backup.find("(audit head 2:" + report->head.hash + ")") != std::string::npos);
}

}  // namespace
}  // namespace escrow::ops
