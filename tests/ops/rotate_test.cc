// ops::Rotate called directly on a vault made by vaultctl init (tests/tools' CtlFixture), with
// the fixture's in-process escrow service reading every record back.

#include "vault/ops/rotate.h"

#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

#include "tests/tools/ctl_fixture.h"
#include "vault/meta.h"
#include "vault/ops/audit_ops.h"

namespace escrow::ops {
namespace {

using escrow::testing::CtlFixture;

Vault ViewOf(CtlFixture& f) { return Vault{f.keys(), f.store(), f.audit()}; }

TEST_CASE("Rotate re-encrypts every record in batches, stopping only at safe points",
          "[ops][rotate][hsm]") {
  CtlFixture f;
  f.Open();
  f.Populate(0, 50);
  std::vector<std::string> points;
  std::ostringstream notes;
  RotateOptions o;
  o.batch = 7;
  o.at_point = [&points](std::string_view p) { points.emplace_back(p); };
  o.notes = &notes;
  Result<RotateReport> report = Rotate(o, ViewOf(f));
  INFO(report.status().ToString());
  REQUIRE(report.ok());
  CHECK(report->target == 2);
  CHECK(report->records == 50);
  CHECK(report->from_versions == std::vector<std::uint32_t>{1});
  CHECK(report->counts == std::vector<std::pair<std::uint32_t, std::int64_t>>{{2, 50}});
  CHECK(report->text.find("master key rotated to escrow-master-v2\n") == 0);
  CHECK(report->text.find("records per master key version: v2=50\n") != std::string::npos);
  CHECK(notes.str().find("active master key: escrow-master-v2") != std::string::npos);
  CHECK(notes.str().find("re-encrypting: 50/50 records (100%)") != std::string::npos);
  const std::vector<std::string> expected = {"target",  "keygen",  "activate", "batch:1",
                                             "batch:2", "batch:3", "batch:4",  "batch:5",
                                             "batch:6", "batch:7", "batch:8",  "complete"};
  CHECK(points == expected);
  for (std::size_t i = 0; i < 50; ++i) CHECK(f.Retrieve(i) == CtlFixture::KeyFor(i));
  CHECK(vault::ReadMetaVersion(f.store(), vault::MetaKey::kActiveMasterKeyVersion).value() == 2);
  CHECK_FALSE(
      vault::ReadOptionalMetaVersion(f.store(), vault::MetaKey::kRotationTarget)->has_value());
  Result<vault::AuditVerifyReport> verified = VerifyAudit({}, ViewOf(f));
  REQUIRE(verified.ok());
  CHECK(verified->ok);

  SECTION("a second rotation with retire_old destroys the versions no record uses") {
    RotateOptions retire;
    retire.retire_old = true;
    std::ostringstream warnings;
    retire.notes = &warnings;
    Result<RotateReport> again = Rotate(retire, ViewOf(f));
    INFO(again.status().ToString());
    REQUIRE(again.ok());
    CHECK(again->target == 3);
    std::vector<std::string> retired = again->retired;
    std::sort(retired.begin(), retired.end());
    CHECK(retired == std::vector<std::string>{"escrow-master-v1", "escrow-master-v2"});
    CHECK(warnings.str().find("warning: destroying escrow-master-v1") != std::string::npos);
    for (std::size_t i = 0; i < 50; ++i) CHECK(f.Retrieve(i) == CtlFixture::KeyFor(i));
  }
}

TEST_CASE("Rotate resumes a rotation that stopped after its target was recorded",
          "[ops][rotate][hsm]") {
  CtlFixture f;
  f.Open();
  f.Populate(0, 20);
  struct Stop {};
  RotateOptions stopping;
  // Stopping at "activate" leaves the new key active and the records under v1.
  stopping.at_point = [](std::string_view p) {
    if (p == "activate") throw Stop{};
  };
  CHECK_THROWS_AS(Rotate(stopping, ViewOf(f)), Stop);
  CHECK(*vault::ReadOptionalMetaVersion(f.store(), vault::MetaKey::kRotationTarget) ==
        std::optional<std::uint32_t>(2));
  Result<RotateReport> resumed = Rotate({}, ViewOf(f));
  INFO(resumed.status().ToString());
  REQUIRE(resumed.ok());
  CHECK(resumed->target == 2);
  CHECK(resumed->records == 20);
  for (std::size_t i = 0; i < 20; ++i) CHECK(f.Retrieve(i) == CtlFixture::KeyFor(i));
}

}  // namespace
}  // namespace escrow::ops
