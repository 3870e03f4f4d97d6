#include <catch2/catch.hpp>

#include "storage/database.h"
#include "storage/queries.h"
#include "tests/storage/store_fixture.h"

namespace escrow::storage {
namespace {

using testing::StoreFixture;

// One column of what SQLite's `explain` ("EXPLAIN" or "EXPLAIN QUERY PLAN") gives for `query`,
// one row per line.
std::string Explain(Database& db, const Query& query, std::string_view explain, int column) {
  auto stmt = db.PrepareOnce({query.name, std::string(explain) + " " + std::string(query.sql)});
  INFO(stmt.status().ToString());
  REQUIRE(stmt.ok());
  std::string out;
  while (true) {
    auto row = stmt->Step();
    REQUIRE(row.ok());
    if (!*row) break;
    out += stmt->ColumnText(column) + "\n";
  }
  return out;
}

// The plan of `query`, one detail per line.
std::string Plan(Database& db, const Query& query) {
  return Explain(db, query, "EXPLAIN QUERY PLAN", 3);
}

// The opcodes of the program SQLite compiles for `query`, one per line.
std::string Program(Database& db, const Query& query) { return Explain(db, query, "EXPLAIN", 1); }

TEST_CASE("Key-version writes build no temporary tables", "[storage][query_plan]") {
  StoreFixture f;
  { auto store = f.Open(); }
  auto db = Database::Open({.path = f.path});
  REQUIRE(db.ok());
  // A CHECK of `state IN (three values)` compiled to a temporary index on every insert.
  for (const Query* query :
       {&queries::kInsertKeyVersion, &queries::kSetKeyVersionState, &queries::kSetBurned,
        &queries::kBurnActive, &queries::kReplaceSealed, &queries::kDestroyKeyVersion,
        &queries::kAppendAudit,
        &queries::kInsertQuotaEvent, &queries::kPruneQuotaEvents}) {
    const std::string program = Program(**db, *query);
    INFO(query->name << ":\n" << program);
    CHECK_THAT(program, Catch::Contains("Halt"));  // the program was read at all
    CHECK_THAT(program, !Catch::Contains("OpenEphemeral"));
  }
}

TEST_CASE("Request-path statements use keys and indexes, never scans or sorts",
          "[storage][query_plan]") {
  StoreFixture f;
  { auto store = f.Open(); }
  auto db = Database::Open({.path = f.path});
  REQUIRE(db.ok());
  // Plans are made with statistics as a large table would have them, so that the planner
  // cannot pick a scan just because the tables are empty.
  REQUIRE((*db)->RunScript("analyze", "ANALYZE").ok());

  for (const Query* query : {&queries::kGetDevice,
                             &queries::kListDevicesByOwner,
                             &queries::kListDevicesBySerial,
                             &queries::kSetRotationPending,
                             &queries::kSetCheckin,
                             &queries::kGetKeyVersion,
                             &queries::kListKeyVersions,
                             &queries::kListSealedUnder,
                             &queries::kListSealedUnderAfter,
                             &queries::kSetKeyVersionState,
                             &queries::kSetBurned,
                             &queries::kReplaceSealed,
                             &queries::kLastAuditSeq,
                             &queries::kListAudit,
                             &queries::kListAuditByDevice,
                             &queries::kLastAudit,
                             &queries::kGetMeta,
                             &queries::kCurrentKeyVersion,
                             &queries::kLatestKeyVersion,
                             &queries::kListBurnedKeyVersions,
                             &queries::kListActiveVersions,
                             &queries::kBurnActive,
                             &queries::kQuotaWindow,
                             &queries::kPruneQuotaEvents,
                             &queries::kGetAudit,
                             &queries::kNewestStateChange,
                             &queries::kGetDeviceState,
                             &queries::kListDeviceStatesAfter,
                             &queries::kSetFingerprint,
                             &queries::kSetVerified,
                             &queries::kListDevicesByKeyId,
                             &queries::kCountRotationOverdue,
                             &queries::kListOverdueUnnoted,
                             &queries::kNoteRotationOverdue,
                             &queries::kDestroyKeyVersion,
                             &queries::kListReleases}) {
    const std::string plan = Plan(**db, *query);
    INFO(query->name << ":\n" << plan);
    CHECK_THAT(plan, Catch::Contains("SEARCH"));
    CHECK_THAT(plan, !Catch::Contains("SCAN"));
    CHECK_THAT(plan, !Catch::Contains("TEMP B-TREE"));
  }

  SECTION("the lookups use the intended keys") {
    CHECK_THAT(Plan(**db, queries::kGetDevice), Catch::Contains("PRIMARY KEY (id=?)"));
    // Each page of a listing starts at its `after` in the index, not at the owner's first
    // device, and ends at the LIMIT: its cost does not grow with the devices listed before.
    CHECK_THAT(Plan(**db, queries::kListDevicesByOwner),
               Catch::Contains("INDEX devices_by_owner (owner=? AND id>?)"));
    CHECK_THAT(Plan(**db, queries::kListDevicesBySerial),
               Catch::Contains("INDEX devices_by_serial (serial=? AND id>?)"));
    CHECK_THAT(Plan(**db, queries::kGetKeyVersion),
               Catch::Contains("PRIMARY KEY (device_id=? AND version=?)"));
    CHECK_THAT(Plan(**db, queries::kCurrentKeyVersion),
               Catch::Contains("INDEX key_versions_active (device_id=?)"));
    CHECK_THAT(Plan(**db, queries::kListActiveVersions),
               Catch::Contains("INDEX key_versions_active (device_id=?)"));
    CHECK_THAT(Plan(**db, queries::kListSealedUnder),
               Catch::Contains("key_versions_by_master_key (master_key_version=?)"));
    CHECK_THAT(Plan(**db, queries::kListSealedUnderAfter),
               Catch::Contains("key_versions_by_master_key (master_key_version=? AND "
                               "(device_id,version)>(?,?))"));
    CHECK_THAT(
        Plan(**db, queries::kQuotaWindow),
        Catch::Contains("COVERING INDEX quota_events_by_principal (principal=? AND at_ms>?)"));
    CHECK_THAT(Plan(**db, queries::kPruneQuotaEvents),
               Catch::Contains("INDEX quota_events_by_principal (principal=? AND at_ms<?)"));
    CHECK_THAT(Plan(**db, queries::kListAudit), Catch::Contains("INTEGER PRIMARY KEY (rowid>?)"));
    CHECK_THAT(Plan(**db, queries::kNewestStateChange),
               Catch::Contains("audit_state_changes (device_id=?)"));
    CHECK_THAT(Plan(**db, queries::kGetDeviceState), Catch::Contains("PRIMARY KEY (device_id=?)"));
    CHECK_THAT(Plan(**db, queries::kListDevicesByKeyId),
               Catch::Contains("key_versions_by_key_id (key_id>? AND key_id<?)"));
    CHECK_THAT(Plan(**db, queries::kListAuditByDevice),
               Catch::Contains("audit_by_device (device_id=? AND rowid>?)"));
    // The releases only, newest first, without stepping over the device's other records.
    CHECK_THAT(Plan(**db, queries::kListReleases),
               Catch::Contains("audit_releases (device_id=? AND seq<?)"));
    CHECK_THAT(Plan(**db, queries::kDestroyKeyVersion),
               Catch::Contains("PRIMARY KEY (device_id=? AND version=?)"));
  }
  SECTION("device listings stop at their LIMIT, with no sort before it") {
    for (const Query* query : {&queries::kListDevicesByOwner, &queries::kListDevicesBySerial,
                               &queries::kListDevicesByKeyId, &queries::kListAllDevices}) {
      const std::string program = Program(**db, *query);
      INFO(query->name << ":\n" << program);
      CHECK_THAT(program, Catch::Contains("DecrJumpZero"));  // the LIMIT's countdown
      CHECK_THAT(program, !Catch::Contains("SorterOpen"));
    }
  }
  SECTION("listing all devices walks the primary key in order and stops at the limit") {
    const std::string plan = Plan(**db, queries::kListAllDevices);
    INFO(plan);
    CHECK_THAT(plan, !Catch::Contains("TEMP B-TREE"));
  }
  SECTION("overdue rotations are read through the partial indexes of pending rotations") {
    // The listing walks the pending rotations in id order (a scan of that index only: its
    // cost follows the pending rotations, not the devices) and stops at the limit.
    const std::string list = Plan(**db, queries::kListRotationOverdue);
    INFO(list);
    CHECK_THAT(list, Catch::Contains("USING INDEX devices_rotation_pending"));
    CHECK_THAT(list, !Catch::Contains("TEMP B-TREE"));
    CHECK_THAT(Plan(**db, queries::kCountRotationOverdue),
               Catch::Contains("devices_rotation_pending_since (rotation_requested_ms<?)"));
    CHECK_THAT(Plan(**db, queries::kListOverdueUnnoted),
               Catch::Contains("devices_rotation_overdue_unnoted (rotation_requested_ms<?)"));
  }
}

}  // namespace
}  // namespace escrow::storage
