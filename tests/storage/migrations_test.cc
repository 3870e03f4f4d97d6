#include "storage/migrations.h"

#include <sys/stat.h>

#include <fstream>
#include <limits>
#include <random>

#include <catch2/catch.hpp>
#include <sqlite3.h>

#include "base/clock.h"
#include "storage/sqlite_store.h"
#include "tests/storage/store_fixture.h"

namespace escrow::storage {
namespace {

using testing::CountByMasterKey;
using testing::CurrentKeyVersion;
using testing::GetDevice;
using testing::GetMeta;
using testing::GetQuotaWindow;
using testing::ListKeyVersions;
using testing::MakeDevice;
using testing::MustWrite;
using testing::RawExec;
using testing::StoreFixture;

std::string QueryOne(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK);
  std::string out;
  while (sqlite3_step(stmt) == SQLITE_ROW) {
    if (!out.empty()) out += ",";
    const unsigned char* text = sqlite3_column_text(stmt, 0);
    out += text == nullptr ? "NULL" : reinterpret_cast<const char*>(text);
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return out;
}

// What migration 12 added, undone for a database of an earlier schema.
constexpr const char* kUndo12 =
    "DROP INDEX devices_rotation_pending; DROP INDEX devices_rotation_pending_since; "
    "DROP INDEX devices_rotation_overdue_unnoted; "
    "ALTER TABLE devices DROP COLUMN rotation_requested_ms; "
    "ALTER TABLE devices DROP COLUMN rotation_overdue_noted; ";

// What migration 17 added (signed checkpoints), undone for a database of an earlier schema.
#define ESCROW_UNDO17 "DROP TABLE audit_checkpoints; DROP TABLE audit_signing_keys; "
// What migration 16 added (events), undone for a database of an earlier schema.
#define ESCROW_UNDO16 "DROP TABLE events; DROP TABLE notifier_cursors; "
// What migration 15 added (the approvals' MACs).
#define ESCROW_UNDO15                                                   \
  "ALTER TABLE access_requests DROP COLUMN approval_key_version; " \
  "ALTER TABLE access_requests DROP COLUMN approval_mac; "

TEST_CASE("Migrations are numbered 1..N without gaps", "[storage][migrations]") {
  int expected = 1;
  for (const Migration& m : Migrations()) {
    CHECK(m.version == expected);
    CHECK_FALSE(m.description.empty());
    ++expected;
  }
  CHECK(LatestSchemaVersion() == expected - 1);
}

TEST_CASE("Store applies every migration once and records it", "[storage][migrations]") {
  StoreFixture f;
  {
    auto store = f.Open();
    CHECK(store->schema_version() == LatestSchemaVersion());
  }
  { auto store = f.Open(); }  // a second open applies nothing
  std::string expected;
  for (int v = 1; v <= LatestSchemaVersion(); ++v) {
    expected += (v > 1 ? "," : "") + std::to_string(v);
  }
  CHECK(QueryOne(f.path, "SELECT version FROM schema_version ORDER BY version") == expected);
  CHECK(QueryOne(f.path, "SELECT count(*) FROM schema_version WHERE applied_ms > 0") ==
        std::to_string(LatestSchemaVersion()));
  CHECK(QueryOne(f.path, "PRAGMA application_id") == std::to_string(kApplicationId));
}

TEST_CASE("Store keeps its data across a reopen", "[storage][migrations]") {
  StoreFixture f;
  {
    auto store = f.Open();
    MustWrite(*store, [](WriteTxn& txn) { return txn.devices().Upsert(MakeDevice("dev-1")); });
    MustWrite(*store, [](WriteTxn& txn) { return txn.meta().Set("active_master_key", "3"); });
  }
  auto store = f.Open(/*create=*/false);
  auto device = GetDevice(*store, "dev-1");
  REQUIRE(device.ok());
  REQUIRE(device->has_value());
  CHECK((*device)->owner == "alice");
  auto meta = GetMeta(*store, "active_master_key");
  REQUIRE(meta.ok());
  CHECK(*meta == std::optional<std::string>("3"));
}

TEST_CASE("A version 2 database with key versions is upgraded in place to the latest schema",
          "[storage][migrations]") {
  StoreFixture f;
  {
    auto store = f.Open();
    MustWrite(*store, [](WriteTxn& txn) {
      ESCROW_RETURN_IF_ERROR(txn.devices().Upsert(MakeDevice("dev-1")));
      ESCROW_RETURN_IF_ERROR(txn.versions().Insert(testing::MakeKeyVersion("dev-1", 1)));
      ESCROW_RETURN_IF_ERROR(txn.versions().SetState("dev-1", 1, VersionState::kSuperseded));
      return txn.versions().Insert(testing::MakeKeyVersion("dev-1", 2));
    });
  }
  // Back to what a vault of schema 2 left on disk.
  REQUIRE(RawExec(f.path,
                  std::string(kUndo12) +
                      "DROP INDEX key_versions_active; DROP TABLE quota_events; "
                  "DROP TABLE device_states; DROP INDEX audit_state_changes; "
                  "DROP TABLE cms_envelopes; DROP TABLE escrow_certificates; DROP TABLE escrow_cas; "
                  "DROP INDEX audit_releases; DROP TABLE access_requests; " ESCROW_UNDO17 ESCROW_UNDO16
                  "DELETE FROM schema_version WHERE version > 2") == SQLITE_OK);
  REQUIRE(QueryOne(f.path, "SELECT max(version) FROM schema_version") == "2");

  auto store = f.Open(/*create=*/false);
  CHECK(store->schema_version() == LatestSchemaVersion());
  CHECK(QueryOne(f.path,
                 "SELECT count(*) FROM sqlite_schema WHERE name = "
                 "'key_versions_active'") == "1");
  auto device = GetDevice(*store, "dev-1");
  REQUIRE(device.ok());
  REQUIRE(device->has_value());
  auto current = CurrentKeyVersion(*store, **device);
  REQUIRE(current.ok());
  REQUIRE(current->has_value());
  CHECK((*current)->version == 2u);  // the rows written before the upgrade are indexed
  auto versions = ListKeyVersions(*store, "dev-1");
  REQUIRE(versions.ok());
  REQUIRE(versions->size() == 2);  // migration 4 moved every row
  CHECK((*versions)[0].state == VersionState::kSuperseded);
  CHECK((*versions)[0].ciphertext == testing::MakeKeyVersion("dev-1", 1).ciphertext);
  auto counts = CountByMasterKey(*store);
  REQUIRE(counts.ok());
  CHECK(*counts == std::vector<std::pair<std::uint32_t, std::int64_t>>{{1, 2}});
  // The checks and the count triggers are in force on the rebuilt table.
  KeyVersionRow bad = testing::MakeKeyVersion("dev-1", 3);
  bad.state = static_cast<VersionState>(0);  // no text: refused before it reaches the table
  CHECK(store->Write([&](WriteTxn& txn) { return txn.versions().Insert(bad); }).code() ==
        Code::kInvalidArgument);
  // The table's own check, reached with SQL as an operator's sqlite3 would.
  CHECK(RawExec(f.path,
                "INSERT INTO key_versions SELECT device_id, 9, kind, owner, ownership, "
                "master_key_version, iv, ciphertext, tag, 'lost', stored_ms, stored_by, burned, "
                "NULL, NULL, stored_by_kind, NULL, NULL, NULL FROM key_versions "
                "WHERE device_id = 'dev-1' AND version = 1") ==
        SQLITE_CONSTRAINT);
  MustWrite(*store, [](WriteTxn& txn) {
    return txn.versions().Insert(testing::MakeKeyVersion("dev-1", 3));
  });
  auto after = CountByMasterKey(*store);
  REQUIRE(after.ok());
  CHECK(*after == std::vector<std::pair<std::uint32_t, std::int64_t>>{{1, 3}});
}

TEST_CASE("A version 4 database is upgraded with today's quota counts as rolling-window events",
          "[storage][migrations][quota]") {
  StoreFixture f;
  { auto store = f.Open(); }
  // Back to what a vault of schema 4 left on disk: counts per principal and UTC day.
  REQUIRE(RawExec(f.path,
                  std::string(kUndo12) +
                      "DROP INDEX key_versions_by_key_id; ALTER TABLE key_versions DROP COLUMN key_id; "
                  "ALTER TABLE key_versions DROP COLUMN source; "
                  "ALTER TABLE key_versions DROP COLUMN verified_ms; "
                  "DROP TABLE quota_events; DROP TABLE device_states; "
                  "DROP INDEX audit_state_changes; ALTER TABLE key_versions DROP COLUMN "
                  "fingerprint; ALTER TABLE key_versions DROP COLUMN fingerprint_key_version; "
                  "ALTER TABLE key_versions DROP COLUMN stored_by_kind; "
                  "DROP TABLE cms_envelopes; DROP TABLE escrow_certificates; DROP TABLE escrow_cas; "
                  "DROP INDEX audit_releases; DROP TABLE access_requests; " ESCROW_UNDO17 ESCROW_UNDO16 "DELETE FROM schema_version WHERE version > 4; "
                  "INSERT INTO quota (principal, day, count) VALUES "
                  "('hd-1', date('now'), 3), ('hd-2', date('now'), 1), "
                  "('hd-1', date('now', '-1 day'), 25), ('hd-3', '2024-01-01', 7)") == SQLITE_OK);

  auto store = f.Open(/*create=*/false);
  CHECK(store->schema_version() == LatestSchemaVersion());
  CHECK(QueryOne(f.path,
                 "SELECT count(*) FROM sqlite_schema WHERE name = "
                 "'quota_events_by_principal'") == "1");
  // Today's releases count from today's UTC midnight, so they leave the window when the old
  // count would have been reset; earlier days are gone, and so are the old rows.
  const std::string at = QueryOne(f.path, "SELECT DISTINCT at_ms FROM quota_events");
  REQUIRE_FALSE(at.empty());
  REQUIRE(at.find(',') == std::string::npos);
  const std::int64_t midnight_ms = std::stoll(at);
  constexpr std::int64_t kDayMs = 86'400'000;
  CHECK(midnight_ms % kDayMs == 0);
  const std::int64_t now_ms = ToUnixMillis(Clock::System().Now());
  CHECK(midnight_ms <= now_ms);
  CHECK(now_ms < midnight_ms + kDayMs + 60'000);  // a minute's slack across midnight
  auto count = [&](std::string_view principal) {
    Result<QuotaWindow> window =
        GetQuotaWindow(*store, principal, std::numeric_limits<std::int64_t>::min());
    REQUIRE(window.ok());
    return window->count;
  };
  // Keyed by the kind-qualified principal since migration 7 (every quota event is a user's).
  CHECK(count("user:hd-1") == 3);
  CHECK(count("user:hd-2") == 1);
  CHECK(count("user:hd-3") == 0);
  CHECK(count("hd-1") == 0);
  CHECK(QueryOne(f.path, "SELECT count(*) FROM quota") == "0");
  // The upgraded table takes events.
  MustWrite(*store, [&](WriteTxn& txn) -> Status {
    ESCROW_ASSIGN_OR_RETURN(QuotaWindow w,
                            txn.limits().AddQuotaEvent("user:hd-1", now_ms, now_ms - kDayMs));
    return w.count == 4 ? Status::Ok() : Status::Internal("count " + std::to_string(w.count));
  });
}

TEST_CASE("A version 6 database is upgraded with no kind on the versions it holds, and new "
          "versions keep theirs",
          "[storage][migrations]") {
  StoreFixture f;
  {
    auto store = f.Open();
    MustWrite(*store, [](WriteTxn& txn) {
      ESCROW_RETURN_IF_ERROR(txn.devices().Upsert(MakeDevice("dev-1")));
      return txn.versions().Insert(testing::MakeKeyVersion("dev-1", 1));
    });
  }
  // Back to what a vault of schema 6 left on disk: no stored_by_kind column.
  REQUIRE(RawExec(f.path,
                  std::string(kUndo12) +
                      "DROP INDEX key_versions_by_key_id; ALTER TABLE key_versions DROP COLUMN key_id; "
                  "ALTER TABLE key_versions DROP COLUMN source; "
                  "ALTER TABLE key_versions DROP COLUMN verified_ms; "
                  "ALTER TABLE key_versions DROP COLUMN stored_by_kind; "
                  "DROP TABLE cms_envelopes; DROP TABLE escrow_certificates; DROP TABLE escrow_cas; "
                  "ALTER TABLE device_states DROP COLUMN rotation_command_sent; "
                  "DROP INDEX audit_releases; DROP TABLE access_requests; " ESCROW_UNDO17 ESCROW_UNDO16
                  "DELETE FROM schema_version WHERE version > 6") == SQLITE_OK);
  REQUIRE(QueryOne(f.path, "SELECT count(*) FROM pragma_table_info('key_versions') "
                           "WHERE name = 'stored_by_kind'") == "0");

  auto store = f.Open(/*create=*/false);
  CHECK(store->schema_version() == LatestSchemaVersion());
  CHECK(QueryOne(f.path, "SELECT description FROM schema_version WHERE version = 7") ==
        "the kind of principal that stored each key version");
  // The version stored before the upgrade has no kind: nothing in its row says which.
  CHECK(QueryOne(f.path, "SELECT stored_by_kind FROM key_versions") == "NULL");
  auto versions = ListKeyVersions(*store, "dev-1");
  REQUIRE(versions.ok());
  REQUIRE(versions->size() == 1);
  CHECK((*versions)[0].stored_by == "mdm");
  CHECK_FALSE((*versions)[0].stored_by_kind.has_value());
  // New versions keep theirs; the column's CHECK holds for SQL written by hand too.
  KeyVersionRow v2 = testing::MakeKeyVersion("dev-1", 2);
  v2.stored_by_kind = PrincipalKind::kClient;
  MustWrite(*store, [&](WriteTxn& txn) { return txn.versions().Insert(v2); });
  CHECK(QueryOne(f.path, "SELECT stored_by_kind FROM key_versions ORDER BY version") ==
        "NULL,client");
  CHECK(RawExec(f.path, "UPDATE key_versions SET stored_by_kind = 'mdm' WHERE version = 1") ==
        SQLITE_CONSTRAINT);
}

TEST_CASE("A version 7 database is upgraded with each version's source from the kind that "
          "stored it, and no key ID",
          "[storage][migrations][key_id]") {
  StoreFixture f;
  {
    auto store = f.Open();
    MustWrite(*store, [](WriteTxn& txn) {
      ESCROW_RETURN_IF_ERROR(txn.devices().Upsert(MakeDevice("dev-1")));
      KeyVersionRow by_user = testing::MakeKeyVersion("dev-1", 1);
      by_user.stored_by_kind = PrincipalKind::kUser;
      KeyVersionRow by_client = testing::MakeKeyVersion("dev-1", 2);
      by_client.stored_by_kind = PrincipalKind::kClient;
      ESCROW_RETURN_IF_ERROR(txn.versions().Insert(by_user));
      ESCROW_RETURN_IF_ERROR(txn.versions().Insert(by_client));
      return txn.versions().Insert(testing::MakeKeyVersion("dev-1", 3));  // kind unknown
    });
  }
  // Back to what a vault of schema 7 left on disk.
  REQUIRE(RawExec(f.path,
                  std::string(kUndo12) +
                      "DROP INDEX key_versions_by_key_id; ALTER TABLE key_versions DROP COLUMN key_id; "
                  "ALTER TABLE key_versions DROP COLUMN source; "
                  "ALTER TABLE key_versions DROP COLUMN verified_ms; "
                  "DROP TABLE cms_envelopes; DROP TABLE escrow_certificates; DROP TABLE escrow_cas; "
                  "ALTER TABLE device_states DROP COLUMN rotation_command_sent; "
                  "DROP INDEX audit_releases; DROP TABLE access_requests; " ESCROW_UNDO17 ESCROW_UNDO16
                  "DELETE FROM schema_version WHERE version > 7") == SQLITE_OK);
  auto store = f.Open(/*create=*/false);
  CHECK(store->schema_version() == LatestSchemaVersion());
  CHECK(QueryOne(f.path, "SELECT description FROM schema_version WHERE version = 8") ==
        "key ids, key sources and verify marks of key versions");
  CHECK(QueryOne(f.path, "SELECT coalesce(source, 'NULL') FROM key_versions ORDER BY version") ==
        "typed,mdm,NULL");
  auto versions = ListKeyVersions(*store, "dev-1");
  REQUIRE(versions.ok());
  REQUIRE(versions->size() == 3);
  CHECK((*versions)[0].source == KeySource::kTyped);
  CHECK((*versions)[1].source == KeySource::kMdm);
  CHECK_FALSE((*versions)[2].source.has_value());
  for (const KeyVersionRow& v : *versions) {
    CHECK_FALSE(v.key_id.has_value());
    CHECK_FALSE(v.verified_ms.has_value());
  }
  // The columns' checks hold for SQL written by hand too.
  CHECK(RawExec(f.path, "UPDATE key_versions SET source = 'typo' WHERE version = 1") ==
        SQLITE_CONSTRAINT);
  CHECK(RawExec(f.path, "UPDATE key_versions SET key_id = '' WHERE version = 1") ==
        SQLITE_CONSTRAINT);
}

TEST_CASE("A version 9 database is upgraded with an empty replay record of CMS envelopes",
          "[storage][migrations][cms]") {
  StoreFixture f;
  {
    auto store = f.Open();
    MustWrite(*store, [](WriteTxn& txn) { return txn.devices().Upsert(MakeDevice("dev-1")); });
  }
  // Back to what a vault of schema 9 left on disk.
  REQUIRE(RawExec(f.path,
                  std::string(kUndo12) +
                      "DROP TABLE cms_envelopes; ALTER TABLE device_states DROP COLUMN "
                  "rotation_command_sent; DROP INDEX audit_releases; DROP TABLE access_requests; " ESCROW_UNDO17 ESCROW_UNDO16
                  "DELETE FROM schema_version WHERE version > 9") ==
          SQLITE_OK);
  auto store = f.Open(/*create=*/false);
  CHECK(store->schema_version() == LatestSchemaVersion());
  CHECK(QueryOne(f.path, "SELECT description FROM schema_version WHERE version = 10") ==
        "replay record of accepted CMS envelopes (Apple MDM)");
  CHECK(QueryOne(f.path, "SELECT count(*) FROM cms_envelopes") == "0");
  // The table's checks hold for SQL written by hand too: a 32-byte digest, a known device.
  CHECK(RawExec(f.path, "INSERT INTO cms_envelopes VALUES (zeroblob(31), 'dev-1', 1)") ==
        SQLITE_CONSTRAINT);
  CHECK(RawExec(f.path, "INSERT INTO cms_envelopes VALUES (zeroblob(32), 'dev-1', 1)") ==
        SQLITE_OK);
}

TEST_CASE("A version 10 database is upgraded with no rotation command sent, and the command "
          "among the state changes",
          "[storage][migrations][rotation_command]") {
  StoreFixture f;
  {
    auto store = f.Open();
    MustWrite(*store, [](WriteTxn& txn) {
      ESCROW_RETURN_IF_ERROR(txn.devices().Upsert(MakeDevice("dev-1")));
      DeviceStateRow state;
      state.device_id = "dev-1";
      state.rotation_pending = true;
      state.audit_seq = 1;
      state.audit_hash = Bytes(32, 0xA5);
      state.state_key_version = 1;
      state.mac = Bytes(32, 0x3C);
      ESCROW_RETURN_IF_ERROR(txn.states().Put(state));
      AuditRow command = testing::MakeAudit(1);
      command.action = "key.rotation_command";
      return txn.audit().Append(command);
    });
  }
  // Back to what a vault of schema 10 left on disk: migration 6's index, no flag.
  REQUIRE(RawExec(f.path,
                  std::string(kUndo12) +
                      "ALTER TABLE device_states DROP COLUMN rotation_command_sent; "
                  "DROP INDEX audit_state_changes; "
                  "CREATE INDEX audit_state_changes ON audit (device_id, seq) WHERE outcome = 'ok' "
                  "AND (action = 'device.enrol' OR action = 'device.change_owner' OR "
                  "action = 'key.store' OR action = 'key.retrieve' OR "
                  "action = 'key.retrieve_older' OR action = 'key.rotate'); "
                  "DROP INDEX audit_releases; DROP TABLE access_requests; " ESCROW_UNDO17 ESCROW_UNDO16
                  "DELETE FROM schema_version WHERE version > 10") == SQLITE_OK);
  auto store = f.Open(/*create=*/false);
  CHECK(store->schema_version() == LatestSchemaVersion());
  CHECK(QueryOne(f.path, "SELECT description FROM schema_version WHERE version = 11") ==
        "the mdm's rotation command in device state records");
  CHECK(QueryOne(f.path, "SELECT rotation_command_sent FROM device_states") == "0");
  // The rebuilt index takes the command as a state change.
  std::optional<std::uint64_t> newest;
  REQUIRE(store
              ->Read([&](ReadTxn& txn) -> Status {
                ESCROW_ASSIGN_OR_RETURN(newest, txn.audit().NewestStateChange("dev-1"));
                return Status::Ok();
              })
              .ok());
  CHECK(newest == std::optional<std::uint64_t>(1));
  // The column's check holds for SQL written by hand too: sent only while pending.
  CHECK(RawExec(f.path, "UPDATE device_states SET rotation_command_sent = 1") == SQLITE_OK);
  CHECK(RawExec(f.path, "UPDATE device_states SET rotation_pending = 0") == SQLITE_CONSTRAINT);
  CHECK(RawExec(f.path, "UPDATE device_states SET rotation_command_sent = 2") == SQLITE_CONSTRAINT);
}

TEST_CASE("A version 11 database is upgraded with its pending rotations pending since the "
          "upgrade",
          "[storage][migrations][overdue]") {
  StoreFixture f;
  {
    auto store = f.Open();
    MustWrite(*store, [](WriteTxn& txn) {
      ESCROW_RETURN_IF_ERROR(txn.devices().Upsert(MakeDevice("dev-1")));
      ESCROW_RETURN_IF_ERROR(txn.devices().Upsert(MakeDevice("dev-2")));
      return txn.devices().SetRotationPending("dev-1", true, 5);
    });
  }
  REQUIRE(RawExec(f.path, std::string(kUndo12) +
                              "DROP INDEX audit_releases; DROP TABLE access_requests; " ESCROW_UNDO17 ESCROW_UNDO16
                              "DELETE FROM schema_version WHERE version > 11") == SQLITE_OK);
  const std::int64_t before_ms = ToUnixMillis(Clock::System().Now()) / 1000 * 1000;
  auto store = f.Open(/*create=*/false);
  CHECK(store->schema_version() == LatestSchemaVersion());
  CHECK(QueryOne(f.path, "SELECT description FROM schema_version WHERE version = 12") ==
        "when each pending rotation was requested, and overdue notes");
  auto pending = GetDevice(*store, "dev-1");
  REQUIRE(pending.ok());
  REQUIRE(pending->has_value());
  REQUIRE((*pending)->rotation_requested_ms.has_value());
  CHECK(*(*pending)->rotation_requested_ms >= before_ms);
  CHECK_FALSE((*pending)->rotation_overdue_noted);
  auto idle = GetDevice(*store, "dev-2");
  REQUIRE(idle.ok());
  CHECK_FALSE((*idle)->rotation_requested_ms.has_value());
  CHECK(RawExec(f.path, "UPDATE devices SET rotation_overdue_noted = 2") == SQLITE_CONSTRAINT);
}

TEST_CASE("A version 12 database is upgraded with its releases indexed, those before included",
          "[storage][migrations][accesses]") {
  StoreFixture f;
  {
    auto store = f.Open();
    MustWrite(*store, [](WriteTxn& txn) {
      ESCROW_RETURN_IF_ERROR(txn.devices().Upsert(MakeDevice("dev-1")));
      AuditRow retrieve = testing::MakeAudit(1);
      retrieve.action = "key.retrieve";
      ESCROW_RETURN_IF_ERROR(txn.audit().Append(retrieve));
      AuditRow store_record = testing::MakeAudit(2);
      store_record.action = "key.store";
      return txn.audit().Append(store_record);
    });
  }
  // Back to what a vault of schema 12 left on disk.
  REQUIRE(RawExec(f.path, "DROP INDEX audit_releases; DROP TABLE access_requests; " ESCROW_UNDO17 ESCROW_UNDO16
                          "DELETE FROM schema_version WHERE version > 12") == SQLITE_OK);
  auto store = f.Open(/*create=*/false);
  CHECK(store->schema_version() == LatestSchemaVersion());
  CHECK(QueryOne(f.path, "SELECT description FROM schema_version WHERE version = 13") ==
        "index of key releases per device (accesses)");
  std::vector<AuditRow> releases;
  REQUIRE(store
              ->Read([&](ReadTxn& txn) -> Status {
                ESCROW_ASSIGN_OR_RETURN(releases,
                                        txn.audit().ListReleases("dev-1", std::nullopt, 10));
                return Status::Ok();
              })
              .ok());
  REQUIRE(releases.size() == 1);
  CHECK(releases[0].seq == 1u);
}

TEST_CASE("Migration 15 leaves requests approved before it without a MAC",
          "[storage][migrations]") {
  StoreFixture f;
  {
    auto store = f.Open();
    MustWrite(*store, [](WriteTxn& txn) {
      ESCROW_RETURN_IF_ERROR(txn.devices().Upsert(MakeDevice("dev-1")));
      AccessRequestRow row;
      row.id = std::string(32, 'a');
      row.device_id = "dev-1";
      row.requester = "user:hd";
      row.reason = "ticket";
      row.version = 1;
      row.created_ms = 1;
      row.expires_ms = 2;
      return txn.access_requests().Insert(row).status();
    });
  }
  // Back to what a vault of schema 14 left on disk, with the request approved by it.
  REQUIRE(RawExec(f.path, ESCROW_UNDO17 ESCROW_UNDO16 ESCROW_UNDO15
                          "UPDATE access_requests SET state = 'approved', approver = 'user:ap'; "
                          "DELETE FROM schema_version WHERE version > 14") == SQLITE_OK);
  auto store = f.Open(/*create=*/false);
  CHECK(store->schema_version() == LatestSchemaVersion());
  CHECK(QueryOne(f.path, "SELECT description FROM schema_version WHERE version = 15") ==
        "MACs of access request approvals");
  std::optional<AccessRequestRow> row;
  REQUIRE(store
              ->Read([&](ReadTxn& txn) -> Status {
                ESCROW_ASSIGN_OR_RETURN(row, txn.access_requests().Get(std::string(32, 'a')));
                return Status::Ok();
              })
              .ok());
  REQUIRE(row.has_value());
  CHECK(row->state == AccessRequestState::kApproved);
  CHECK(row->approval_mac.empty());
  CHECK(row->approval_key_version == 0u);
}

TEST_CASE("A version 14 database is upgraded with no events and no notifier cursor",
          "[storage][migrations][events]") {
  StoreFixture f;
  {
    auto store = f.Open();
    MustWrite(*store, [](WriteTxn& txn) { return txn.audit().Append(testing::MakeAudit(1)); });
  }
  REQUIRE(RawExec(f.path, ESCROW_UNDO17 ESCROW_UNDO16 ESCROW_UNDO15 "DELETE FROM schema_version WHERE version > 14") ==
          SQLITE_OK);
  auto store = f.Open(/*create=*/false);
  CHECK(store->schema_version() == LatestSchemaVersion());
  CHECK(QueryOne(f.path, "SELECT description FROM schema_version WHERE version = 16") ==
        "events and notifier cursors");
  CHECK(QueryOne(f.path, "SELECT count(*) FROM events") == "0");
  CHECK(QueryOne(f.path, "SELECT count(*) FROM notifier_cursors") == "0");
  // An event names an audit record, and by_owner is a flag.
  CHECK(RawExec(f.path, "PRAGMA foreign_keys = ON; INSERT INTO events VALUES (2, 't', 1, 'd', 'n', 'o', 'a', 'r', NULL, "
                        "NULL)") == SQLITE_CONSTRAINT);
  CHECK(RawExec(f.path, "PRAGMA foreign_keys = ON; INSERT INTO events VALUES (1, 't', 1, 'd', 'n', 'o', 'a', 'r', NULL, "
                        "2)") == SQLITE_CONSTRAINT);
  CHECK(RawExec(f.path, "PRAGMA foreign_keys = ON; INSERT INTO events VALUES (1, 't', 1, 'd', 'n', 'o', 'a', 'r', NULL, "
                        "1)") == SQLITE_OK);
}

TEST_CASE("A version 16 database is upgraded with no signed checkpoints and no signing key",
          "[storage][migrations][checkpoints]") {
  StoreFixture f;
  {
    auto store = f.Open();
    MustWrite(*store, [](WriteTxn& txn) { return txn.audit().Append(testing::MakeAudit(1)); });
  }
  REQUIRE(RawExec(f.path, ESCROW_UNDO17 "DELETE FROM schema_version WHERE version > 16") ==
          SQLITE_OK);
  auto store = f.Open(/*create=*/false);
  CHECK(store->schema_version() == LatestSchemaVersion());
  CHECK(QueryOne(f.path, "SELECT description FROM schema_version WHERE version = 17") ==
        "signed audit checkpoints and their signing keys");
  CHECK(QueryOne(f.path, "SELECT count(*) FROM audit_checkpoints") == "0");
  CHECK(QueryOne(f.path, "SELECT count(*) FROM audit_signing_keys") == "0");
  // A checkpoint names an audit record and a recorded key; its hash has 32 bytes.
  CHECK(RawExec(f.path, "INSERT INTO audit_signing_keys VALUES (1, x'3059', 1)") == SQLITE_OK);
  CHECK(RawExec(f.path, "PRAGMA foreign_keys = ON; INSERT INTO audit_checkpoints VALUES (2, "
                        "zeroblob(32), 1, 1, x'30')") == SQLITE_CONSTRAINT);
  CHECK(RawExec(f.path, "PRAGMA foreign_keys = ON; INSERT INTO audit_checkpoints VALUES (1, "
                        "zeroblob(32), 1, 2, x'30')") == SQLITE_CONSTRAINT);
  CHECK(RawExec(f.path, "PRAGMA foreign_keys = ON; INSERT INTO audit_checkpoints VALUES (1, "
                        "zeroblob(31), 1, 1, x'30')") == SQLITE_CONSTRAINT);
  CHECK(RawExec(f.path, "PRAGMA foreign_keys = ON; INSERT INTO audit_checkpoints VALUES (1, "
                        "zeroblob(32), 1, 1, x'30')") == SQLITE_OK);
}

TEST_CASE("Store refuses a database whose schema is newer than the code", "[storage][migrations]") {
  StoreFixture f;
  { auto store = f.Open(); }
  const int newer = LatestSchemaVersion() + 5;
  REQUIRE(RawExec(f.path,
                  "INSERT INTO schema_version (version, description, applied_ms) "
                  "VALUES (" +
                      std::to_string(newer) + ", 'from the future', 1)") == SQLITE_OK);
  auto store = Store::Open(f.Options(/*create=*/false));
  REQUIRE_FALSE(store.ok());
  CHECK(store.status().code() == Code::kFailedPrecondition);
  CHECK(store.status().message() ==
        "database schema version " + std::to_string(newer) + " is newer than this vault (" +
            std::to_string(LatestSchemaVersion()) + "); upgrade the vault");
  // Nothing was changed by the refused open.
  CHECK(QueryOne(f.path, "SELECT max(version) FROM schema_version") == std::to_string(newer));
}

TEST_CASE("Store refuses files that are not vault databases", "[storage][migrations]") {
  StoreFixture f;

  SECTION("random bytes") {
    std::mt19937 rng(42);  // NOLINT(cert-msc32-c,cert-msc51-cpp): a reproducible bad file
    std::ofstream out(f.path, std::ios::binary);
    for (int i = 0; i < 8192; ++i) out.put(static_cast<char>(rng() & 0xff));
    out.close();
    auto store = Store::Open(f.Options(/*create=*/false));
    REQUIRE_FALSE(store.ok());
    CHECK(store.status().code() == Code::kDataLoss);
    CHECK_THAT(store.status().message(), Catch::Contains("not a database"));
  }
  SECTION("a SQLite file with other tables") {
    REQUIRE(RawExec(f.path,
                    "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT);"
                    "INSERT INTO customers (name) VALUES ('x');") == SQLITE_OK);
    auto store = Store::Open(f.Options(/*create=*/true));
    REQUIRE_FALSE(store.ok());
    CHECK(store.status().code() == Code::kFailedPrecondition);
    CHECK_THAT(store.status().message(), Catch::Contains("is not a vault database"));
    CHECK(QueryOne(f.path, "SELECT count(*) FROM sqlite_schema WHERE name = 'devices'") == "0");
    CHECK(QueryOne(f.path, "PRAGMA journal_mode") == "delete");  // not converted to WAL
  }
  SECTION("a SQLite file of another application") {
    REQUIRE(RawExec(f.path, "PRAGMA application_id = 1234;") == SQLITE_OK);
    auto store = Store::Open(f.Options(/*create=*/true));
    REQUIRE_FALSE(store.ok());
    CHECK(store.status().code() == Code::kFailedPrecondition);
  }
  SECTION("an empty file without create") {
    std::ofstream(f.path).close();
    auto store = Store::Open(f.Options(/*create=*/false));
    REQUIRE_FALSE(store.ok());
    CHECK(store.status().code() == Code::kFailedPrecondition);
    CHECK_THAT(store.status().message(), Catch::Contains("create was not requested"));
  }
}

TEST_CASE("Store without create on a missing file is unavailable", "[storage][migrations]") {
  StoreFixture f;
  auto store = Store::Open(f.Options(/*create=*/false));
  REQUIRE_FALSE(store.ok());
  CHECK(store.status().code() == Code::kUnavailable);
  CHECK(store.status().message() == "database not found: " + f.path);
  CHECK_FALSE(std::filesystem::exists(f.path));
}

TEST_CASE("Store validates its options", "[storage][migrations]") {
  StoreFixture f;
  StoreOptions options = f.Options();
  options.read_connections = 0;
  CHECK(Store::Open(options).status().code() == Code::kInvalidArgument);
  options = f.Options();
  options.path.clear();
  CHECK(Store::Open(options).status().code() == Code::kInvalidArgument);
  options = f.Options();
  options.busy_timeout_ms = -1;
  CHECK(Store::Open(options).status().code() == Code::kInvalidArgument);
}

TEST_CASE("Store creates its file readable by its owner only", "[storage][migrations]") {
  StoreFixture f;
  auto store = f.Open();
  struct stat st {};
  REQUIRE(::stat(f.path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
}

TEST_CASE("Every connection runs WAL with synchronous FULL and foreign keys",
          "[storage][migrations]") {
  StoreFixture f;
  auto opened = SqliteStore::Open(f.Options());
  REQUIRE(opened.ok());
  SqliteStore& store = **opened;
  const std::size_t connections = 1 + static_cast<std::size_t>(f.Options().read_connections);
  for (const auto& [pragma, expected] :
       {std::pair{"journal_mode", "wal"}, std::pair{"synchronous", "2"},
        std::pair{"foreign_keys", "1"}, std::pair{"trusted_schema", "0"}}) {
    auto values = store.PragmaOnEveryConnection(pragma);
    REQUIRE(values.ok());
    REQUIRE(values->size() == connections);
    for (const std::string& v : *values) {
      INFO(pragma);
      CHECK(v == expected);
    }
  }
}

}  // namespace
}  // namespace escrow::storage
