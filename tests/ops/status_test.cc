// ops::DescribeStatus and RenderStatus on a vault made by vaultctl init (CtlFixture).

#include "vault/ops/status.h"

#include <string>

#include "tests/tools/ctl_fixture.h"
#include "vault/ops/rotate.h"

namespace escrow::ops {
namespace {

using escrow::testing::CtlFixture;

Vault ViewOf(CtlFixture& f) { return Vault{f.keys(), f.store(), f.audit()}; }

TEST_CASE("DescribeStatus reports keys, versions, records, audit head and backups",
          "[ops][status][hsm]") {
  CtlFixture f;
  f.Open();
  Result<StatusReport> fresh = DescribeStatus(ViewOf(f));
  REQUIRE(fresh.ok());
  CHECK(fresh->token.label == f.token().label());
  CHECK(fresh->keys.size() == 4);  // master, audit, fingerprint, state
  REQUIRE(fresh->active_master_key_version.ok());
  CHECK(*fresh->active_master_key_version == 1);
  CHECK_FALSE(fresh->rotation_target);
  CHECK_FALSE(fresh->audit_empty);
  CHECK(fresh->head.seq == 1);
  CHECK(fresh->audit_key_version == 1);
  CHECK(fresh->last_backup == "never");
  const std::string text = RenderStatus(*fresh);
  CHECK(text.find("active master key version: 1\n") != std::string::npos);
  CHECK(text.find("records per master key version: none\n") != std::string::npos);
  CHECK(text.find("audit head:     1:") != std::string::npos);
  CHECK(text.find("last db backup: never\n") != std::string::npos);

  f.Populate(0, 4);
  REQUIRE(Rotate({}, ViewOf(f)).ok());
  Result<StatusReport> rotated = DescribeStatus(ViewOf(f));
  REQUIRE(rotated.ok());
  CHECK(*rotated->active_master_key_version == 2);
  CHECK(rotated->records_per_version.at(2) == 4);
  const std::string after = RenderStatus(*rotated);
  CHECK(after.find("escrow-master-v1  check value ") != std::string::npos);
  CHECK(after.find("[0 records]") != std::string::npos);
  CHECK(after.find(" v2=4\n") != std::string::npos);
  CHECK(after.find("rotation:       none\n") != std::string::npos);
}

}  // namespace
}  // namespace escrow::ops
