#include "storage/migrations.h"

#include <array>
#include <string>

#include "storage/database.h"
#include "storage/transaction.h"

namespace escrow::storage {
namespace {

// Tables are STRICT (a value of the wrong type is refused, not converted) and, where the key
// is not an integer, WITHOUT ROWID (the primary key is the table's b-tree; no second index).
// CHECKs hold what is cheap to hold: sizes of IV, tag and hash, enumerations that the
// associated data or policy depends on, 0/1 flags, 32-bit versions.
constexpr std::string_view kSchemaV1 = R"sql(
CREATE TABLE devices (
  id                 TEXT    NOT NULL PRIMARY KEY CHECK (length(id) > 0),
  serial             TEXT    NOT NULL,
  name               TEXT    NOT NULL,
  platform           TEXT    NOT NULL,
  ownership          TEXT    NOT NULL CHECK (ownership IN ('corporate', 'personal')),
  owner              TEXT    NOT NULL,
  encryption_enabled INTEGER NOT NULL CHECK (encryption_enabled IN (0, 1)),
  rotation_pending   INTEGER NOT NULL CHECK (rotation_pending IN (0, 1)),
  last_checkin_ms    INTEGER,
  created_ms         INTEGER NOT NULL,
  updated_ms         INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX devices_by_owner ON devices (owner, id);
CREATE INDEX devices_by_serial ON devices (serial, id);

CREATE TABLE key_versions (
  device_id          TEXT    NOT NULL REFERENCES devices (id),
  version            INTEGER NOT NULL CHECK (version BETWEEN 1 AND 4294967295),
  kind               TEXT    NOT NULL,
  owner              TEXT    NOT NULL,
  ownership          TEXT    NOT NULL CHECK (ownership IN ('corporate', 'personal')),
  master_key_version INTEGER NOT NULL CHECK (master_key_version BETWEEN 0 AND 4294967295),
  iv                 BLOB    NOT NULL CHECK (length(iv) = 12),
  ciphertext         BLOB    NOT NULL,
  tag                BLOB    NOT NULL CHECK (length(tag) = 16),
  state              TEXT    NOT NULL CHECK (state IN ('active', 'superseded', 'destroyed')),
  stored_ms          INTEGER NOT NULL,
  stored_by          TEXT    NOT NULL,
  burned             INTEGER NOT NULL CHECK (burned IN (0, 1)),
  PRIMARY KEY (device_id, version)
) STRICT, WITHOUT ROWID;
CREATE INDEX key_versions_by_master_key ON key_versions (master_key_version, device_id, version);

CREATE TABLE audit (
  seq                INTEGER PRIMARY KEY CHECK (seq >= 1),
  time_ms            INTEGER NOT NULL,
  actor              TEXT    NOT NULL,
  role               TEXT    NOT NULL,
  action             TEXT    NOT NULL,
  device_id          TEXT    NOT NULL,
  outcome            TEXT    NOT NULL,
  reason             TEXT    NOT NULL,
  detail             TEXT    NOT NULL,
  hash               BLOB    NOT NULL CHECK (length(hash) = 32),
  mac                BLOB    CHECK (mac IS NULL OR length(mac) BETWEEN 16 AND 64),
  audit_key_version  INTEGER NOT NULL CHECK (audit_key_version BETWEEN 0 AND 4294967295)
) STRICT;
CREATE INDEX audit_by_device ON audit (device_id);
-- The chain would show an edit anyway; these stop a bug of ours from making one.
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
  BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
  BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;

-- Active master-key version, rotation state, last backup, ...
CREATE TABLE meta (
  key   TEXT NOT NULL PRIMARY KEY,
  value TEXT NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE quota (
  principal TEXT    NOT NULL,
  day       TEXT    NOT NULL,
  count     INTEGER NOT NULL CHECK (count >= 0),
  PRIMARY KEY (principal, day)
) STRICT, WITHOUT ROWID;
)sql";

// Counting key versions per master key must not scan them (rotation progress and metrics
// ask for it): triggers keep the counts, and existing rows are counted once here.
constexpr std::string_view kSchemaV2 = R"sql(
CREATE TABLE key_version_counts (
  master_key_version INTEGER NOT NULL PRIMARY KEY,
  count              INTEGER NOT NULL CHECK (count >= 0)
) STRICT, WITHOUT ROWID;
INSERT INTO key_version_counts (master_key_version, count)
  SELECT master_key_version, count(*) FROM key_versions GROUP BY master_key_version;
CREATE TRIGGER key_versions_count_insert AFTER INSERT ON key_versions BEGIN
  INSERT INTO key_version_counts (master_key_version, count) VALUES (NEW.master_key_version, 1)
    ON CONFLICT (master_key_version) DO UPDATE SET count = count + 1;
END;
CREATE TRIGGER key_versions_count_update AFTER UPDATE OF master_key_version ON key_versions
  WHEN OLD.master_key_version <> NEW.master_key_version BEGIN
  UPDATE key_version_counts SET count = count - 1
    WHERE master_key_version = OLD.master_key_version;
  INSERT INTO key_version_counts (master_key_version, count) VALUES (NEW.master_key_version, 1)
    ON CONFLICT (master_key_version) DO UPDATE SET count = count + 1;
END;
CREATE TRIGGER key_versions_count_delete AFTER DELETE ON key_versions BEGIN
  UPDATE key_version_counts SET count = count - 1
    WHERE master_key_version = OLD.master_key_version;
END;
)sql";

// The current version of a device is its newest active one: an index of the active versions
// alone finds it without stepping over the superseded ones, however many a device has.
constexpr std::string_view kSchemaV3 = R"sql(
CREATE INDEX key_versions_active ON key_versions (device_id, version) WHERE state = 'active';
)sql";

// Rebuilds key_versions with its state check as comparisons: SQLite evaluates a CHECK of
// `state IN (three values)` by building a temporary index on every insert and every change
// of state (a few percent of a store). Same columns, rows, indexes and count triggers; the
// triggers go first so that moving the rows leaves key_version_counts as it was.
constexpr std::string_view kSchemaV4 = R"sql(
DROP TRIGGER key_versions_count_insert;
DROP TRIGGER key_versions_count_update;
DROP TRIGGER key_versions_count_delete;
CREATE TABLE key_versions_v4 (
  device_id          TEXT    NOT NULL REFERENCES devices (id),
  version            INTEGER NOT NULL CHECK (version BETWEEN 1 AND 4294967295),
  kind               TEXT    NOT NULL,
  owner              TEXT    NOT NULL,
  ownership          TEXT    NOT NULL CHECK (ownership = 'corporate' OR ownership = 'personal'),
  master_key_version INTEGER NOT NULL CHECK (master_key_version BETWEEN 0 AND 4294967295),
  iv                 BLOB    NOT NULL CHECK (length(iv) = 12),
  ciphertext         BLOB    NOT NULL,
  tag                BLOB    NOT NULL CHECK (length(tag) = 16),
  state              TEXT    NOT NULL
                     CHECK (state = 'active' OR state = 'superseded' OR state = 'destroyed'),
  stored_ms          INTEGER NOT NULL,
  stored_by          TEXT    NOT NULL,
  burned             INTEGER NOT NULL CHECK (burned IN (0, 1)),
  PRIMARY KEY (device_id, version)
) STRICT, WITHOUT ROWID;
INSERT INTO key_versions_v4 (device_id, version, kind, owner, ownership, master_key_version,
                             iv, ciphertext, tag, state, stored_ms, stored_by, burned)
  SELECT device_id, version, kind, owner, ownership, master_key_version, iv, ciphertext, tag,
         state, stored_ms, stored_by, burned FROM key_versions;
DROP TABLE key_versions;
ALTER TABLE key_versions_v4 RENAME TO key_versions;
CREATE INDEX key_versions_by_master_key ON key_versions (master_key_version, device_id, version);
CREATE INDEX key_versions_active ON key_versions (device_id, version) WHERE state = 'active';
CREATE TRIGGER key_versions_count_insert AFTER INSERT ON key_versions BEGIN
  INSERT INTO key_version_counts (master_key_version, count) VALUES (NEW.master_key_version, 1)
    ON CONFLICT (master_key_version) DO UPDATE SET count = count + 1;
END;
CREATE TRIGGER key_versions_count_update AFTER UPDATE OF master_key_version ON key_versions
  WHEN OLD.master_key_version <> NEW.master_key_version BEGIN
  UPDATE key_version_counts SET count = count - 1
    WHERE master_key_version = OLD.master_key_version;
  INSERT INTO key_version_counts (master_key_version, count) VALUES (NEW.master_key_version, 1)
    ON CONFLICT (master_key_version) DO UPDATE SET count = count + 1;
END;
CREATE TRIGGER key_versions_count_delete AFTER DELETE ON key_versions BEGIN
  UPDATE key_version_counts SET count = count - 1
    WHERE master_key_version = OLD.master_key_version;
END;
)sql";

// The helpdesk/admin quota counts releases in a rolling 24 hours: one row per release, kept
// until it leaves the window (adding one deletes that principal's rows that have left it). A
// count per UTC day (migration 1's quota table, no longer used) let the quota be spent twice
// across midnight. Today's counts carry over as releases at today's midnight, which leave the
// window when the day's count would have been reset: upgrading grants no extra quota. The old
// rows are then emptied (they were never pruned); the table stays, as migrations are frozen.
constexpr std::string_view kSchemaV5 = R"sql(
CREATE TABLE quota_events (
  principal TEXT    NOT NULL,
  at_ms     INTEGER NOT NULL
) STRICT;
CREATE INDEX quota_events_by_principal ON quota_events (principal, at_ms);
INSERT INTO quota_events (principal, at_ms)
  WITH RECURSIVE n (i) AS (
    SELECT 1 UNION ALL
    SELECT i + 1 FROM n WHERE i < (SELECT max(count) FROM quota WHERE day = date('now')))
  SELECT q.principal, CAST((julianday(q.day) - 2440587.5) * 86400000 AS INTEGER)
    FROM quota AS q JOIN n ON n.i <= q.count
    WHERE q.day = date('now');
DELETE FROM quota;
)sql";

// The second release's authenticated state (DESIGN.md): each version's keyed fingerprint
// (NULL until `vaultctl upgrade` computes it for versions stored before), each device's
// state record, and a partial index of the audit records that change a device's state (its
// WHERE is storage::kStateChangingActions and queries::kNewestStateChange's, word for word).
constexpr std::string_view kSchemaV6 = R"sql(
ALTER TABLE key_versions ADD COLUMN fingerprint BLOB
  CHECK (fingerprint IS NULL OR length(fingerprint) = 32);
ALTER TABLE key_versions ADD COLUMN fingerprint_key_version INTEGER
  CHECK (fingerprint_key_version IS NULL OR fingerprint_key_version BETWEEN 1 AND 4294967295);
CREATE TABLE device_states (
  device_id          TEXT    NOT NULL PRIMARY KEY REFERENCES devices (id),
  current_version    INTEGER NOT NULL CHECK (current_version BETWEEN 0 AND 4294967295),
  rotation_pending   INTEGER NOT NULL CHECK (rotation_pending IN (0, 1)),
  burned             BLOB    NOT NULL CHECK (length(burned) % 32 = 0),
  audit_seq          INTEGER NOT NULL CHECK (audit_seq >= 1),
  audit_hash         BLOB    NOT NULL CHECK (length(audit_hash) = 32),
  state_key_version  INTEGER NOT NULL CHECK (state_key_version BETWEEN 1 AND 4294967295),
  mac                BLOB    NOT NULL CHECK (length(mac) = 32)
) STRICT, WITHOUT ROWID;
-- ORs, not IN: SQLite evaluates `IN (list)` in an index's WHERE through a temporary index
-- built on every insert into the table (see migration 4).
CREATE INDEX audit_state_changes ON audit (device_id, seq) WHERE outcome = 'ok' AND (
  action = 'device.enrol' OR action = 'device.change_owner' OR action = 'key.store' OR
  action = 'key.retrieve' OR action = 'key.retrieve_older' OR action = 'key.rotate');
)sql";

// Who stored a version, by kind (API.md's stored_by_kind), so that a user whose owner claim
// is a client's name is never taken for that client. Rows stored before it stay NULL: nothing
// in them says which kind stored them (the audit trail does, for a later `vaultctl upgrade`).
// A two-value IN compiles to comparisons, without the temporary index of migration 4's note.
constexpr std::string_view kSchemaV7 = R"sql(
ALTER TABLE key_versions ADD COLUMN stored_by_kind TEXT
  CHECK (stored_by_kind IN ('user', 'client'));
-- Quota events are keyed by the kind-qualified principal since this release; every event so
-- far is a user's (only helpdesk and admin users have a quota): carried over, so that the
-- upgrade grants nobody a fresh quota.
UPDATE quota_events SET principal = 'user:' || principal WHERE principal NOT LIKE 'user:%';
)sql";

// Key IDs, how each key came in, and when a verify last matched it (API.md's second release:
// "Key IDs (BitLocker) and lookup", "Checking a key without releasing it"). A key ID is 1 to 64
// characters (vault/ checks its form; a version with one is sealed under associated data format
// 2); a partial index of the versions that have one serves GET /v1/devices?key_id= by the full
// ID or a prefix. Rows stored before take their source from the kind that stored them: until
// this release a client stored only through PUT .../recovery-key (the mdm) and a user only by
// typing; rows of unknown kind (before migration 7) keep NULL.
constexpr std::string_view kSchemaV8 = R"sql(
ALTER TABLE key_versions ADD COLUMN key_id TEXT
  CHECK (key_id IS NULL OR length(key_id) BETWEEN 1 AND 64);
ALTER TABLE key_versions ADD COLUMN source TEXT
  CHECK (source = 'typed' OR source = 'mdm' OR source = 'cms');
ALTER TABLE key_versions ADD COLUMN verified_ms INTEGER;
UPDATE key_versions SET source = CASE stored_by_kind WHEN 'client' THEN 'mdm' ELSE 'typed' END
  WHERE stored_by_kind IS NOT NULL;
CREATE INDEX key_versions_by_key_id ON key_versions (key_id, device_id)
  WHERE key_id IS NOT NULL;
)sql";

// Apple MDM escrow (API.md): the escrow CA's certificates, one per escrow-ca-v<N>, and the
// escrow certificates with their state. At most one fleet certificate is current (a unique
// partial index, so two ceremonies racing cannot both win); device certificates name their
// device, fleet ones none. Certificates are public: no key material here.
constexpr std::string_view kSchemaV9 = R"sql(
CREATE TABLE escrow_cas (
  version    INTEGER NOT NULL PRIMARY KEY CHECK (version BETWEEN 1 AND 4294967295),
  serial     TEXT    NOT NULL UNIQUE
    CHECK (length(serial) = 32 AND serial NOT GLOB '*[^0-9a-f]*'),
  not_before INTEGER NOT NULL,
  not_after  INTEGER NOT NULL CHECK (not_after > not_before),
  sha256     TEXT    NOT NULL CHECK (length(sha256) = 64 AND sha256 NOT GLOB '*[^0-9a-f]*'),
  der        BLOB    NOT NULL CHECK (length(der) > 0)
) STRICT;
CREATE TABLE escrow_certificates (
  serial      TEXT    NOT NULL PRIMARY KEY
    CHECK (length(serial) = 32 AND serial NOT GLOB '*[^0-9a-f]*'),
  key_version INTEGER NOT NULL CHECK (key_version BETWEEN 1 AND 4294967295),
  ca_version  INTEGER NOT NULL REFERENCES escrow_cas (version),
  kind        TEXT    NOT NULL CHECK (kind = 'fleet' OR kind = 'device'),
  device_id   TEXT    REFERENCES devices (id),
  state       TEXT    NOT NULL CHECK (state = 'current' OR state = 'active' OR state = 'retired'),
  not_before  INTEGER NOT NULL,
  not_after   INTEGER NOT NULL CHECK (not_after > not_before),
  sha256      TEXT    NOT NULL CHECK (length(sha256) = 64 AND sha256 NOT GLOB '*[^0-9a-f]*'),
  der         BLOB    NOT NULL CHECK (length(der) > 0),
  CHECK ((kind = 'device') = (device_id IS NOT NULL)),
  CHECK (state <> 'current' OR kind = 'fleet')
) STRICT, WITHOUT ROWID;
CREATE UNIQUE INDEX escrow_certificates_one_current ON escrow_certificates (kind)
  WHERE state = 'current';
CREATE INDEX escrow_certificates_by_device ON escrow_certificates (device_id, key_version)
  WHERE device_id IS NOT NULL;
CREATE INDEX escrow_certificates_by_key ON escrow_certificates (key_version, kind);
)sql";

// Apple MDM escrow's replay record (API.md): SHA-256 of each accepted envelope's encrypted key
// with the device it was stored for, so that one envelope never stores for two devices.
constexpr std::string_view kSchemaV10 = R"sql(
CREATE TABLE cms_envelopes (
  digest    BLOB    NOT NULL PRIMARY KEY CHECK (length(digest) = 32),
  device_id TEXT    NOT NULL REFERENCES devices (id),
  stored_ms INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
)sql";

// Apple MDM's rotation loop (API.md, POST .../rotation-command): the state record says whether
// the mdm was given the current key in this pending rotation (in the record's MAC), and the
// command, which changes the state, joins the partial index of state changes (its WHERE is
// storage::kStateChangingActions and queries::kNewestStateChange's, word for word).
constexpr std::string_view kSchemaV11 = R"sql(
ALTER TABLE device_states ADD COLUMN rotation_command_sent INTEGER NOT NULL DEFAULT 0
  CHECK (rotation_command_sent IN (0, 1) AND (rotation_command_sent = 0 OR rotation_pending = 1));
DROP INDEX audit_state_changes;
CREATE INDEX audit_state_changes ON audit (device_id, seq) WHERE outcome = 'ok' AND (
  action = 'device.enrol' OR action = 'device.change_owner' OR action = 'key.store' OR
  action = 'key.retrieve' OR action = 'key.retrieve_older' OR action = 'key.rotate' OR
  action = 'key.rotation_command');
)sql";

// Overdue rotations (API.md, "Closing the loop after a key was seen"): when each pending
// rotation became pending (existing ones: from this upgrade), whether the sweep noted it
// overdue, and three partial indexes, so that listing, counting and sweeping cost what the
// pending rotations cost, never what the devices do.
constexpr std::string_view kSchemaV12 = R"sql(
ALTER TABLE devices ADD COLUMN rotation_requested_ms INTEGER
  CHECK (rotation_requested_ms IS NULL OR rotation_requested_ms >= 0);
ALTER TABLE devices ADD COLUMN rotation_overdue_noted INTEGER NOT NULL DEFAULT 0
  CHECK (rotation_overdue_noted IN (0, 1));
UPDATE devices SET rotation_requested_ms = unixepoch() * 1000 WHERE rotation_pending = 1;
CREATE INDEX devices_rotation_pending ON devices (id) WHERE rotation_pending = 1;
CREATE INDEX devices_rotation_pending_since ON devices (rotation_requested_ms)
  WHERE rotation_pending = 1;
CREATE INDEX devices_rotation_overdue_unnoted ON devices (rotation_requested_ms)
  WHERE rotation_pending = 1 AND rotation_overdue_noted = 0;
)sql";

// Who viewed a device's key (API.md, GET .../recovery-key/accesses): a partial index of the
// releases (storage::kReleaseActions, outcome ok), so that listing them does not step over the
// device's other records (its WHERE is queries::kListReleases's, word for word). Retention
// ([policy] keep_versions) needs no schema change: a destroyed version keeps the IV and tag
// sizes the checks hold, as zeros, with an empty ciphertext.
constexpr std::string_view kSchemaV13 = R"sql(
CREATE INDEX audit_releases ON audit (device_id, seq) WHERE outcome = 'ok' AND (
  action = 'key.retrieve' OR action = 'key.retrieve_older' OR action = 'key.rotation_command');
)sql";

// Dual control (API.md, "Dual control"): requests to view a key and their decisions. The id is
// 128 random bits (unguessable); seq orders the listing and is its cursor. A decision and a
// use are conditional updates on `state`, so each happens once.
constexpr std::string_view kSchemaAccessRequests = R"sql(
CREATE TABLE access_requests (
  seq        INTEGER PRIMARY KEY,
  id         TEXT    NOT NULL UNIQUE CHECK (length(id) = 32 AND id NOT GLOB '*[^0-9a-f]*'),
  device_id  TEXT    NOT NULL REFERENCES devices (id),
  requester  TEXT    NOT NULL CHECK (length(requester) > 0),
  reason     TEXT    NOT NULL,
  version    INTEGER NOT NULL CHECK (version BETWEEN 1 AND 4294967295),
  state      TEXT    NOT NULL CHECK (state IN ('pending', 'approved', 'denied', 'expired', 'used')),
  created_ms INTEGER NOT NULL,
  expires_ms INTEGER NOT NULL CHECK (expires_ms > created_ms),
  approver   TEXT,
  decided_ms INTEGER,
  note       TEXT,
  used_ms    INTEGER,
  CHECK (state IN ('pending', 'expired') OR approver IS NOT NULL),
  CHECK (state <> 'used' OR used_ms IS NOT NULL)
) STRICT;
CREATE INDEX access_requests_by_requester ON access_requests (requester, seq);
CREATE INDEX access_requests_by_device ON access_requests (device_id);
)sql";

// An approval carries its MAC (made in the HSM with the state key), so that a database writer
// can't forge one; rows approved before this migration have none and are never used.
constexpr std::string_view kSchemaApprovalMacs = R"sql(
ALTER TABLE access_requests ADD COLUMN approval_mac BLOB;
ALTER TABLE access_requests ADD COLUMN approval_key_version INTEGER
  CHECK (approval_key_version BETWEEN 1 AND 4294967295);
)sql";

// Events (API.md "Events for owners and security teams"): written in the transaction of their
// audit record, whose seq is their id (so the listing walks the primary key in commit order);
// deleted after [events] keep_days through events_by_time. Never key material. Each notifier
// client's cursor is the `after` it last asked for (the lag gauge and alert).
constexpr std::string_view kSchemaEvents = R"sql(
CREATE TABLE events (
  id          INTEGER PRIMARY KEY REFERENCES audit (seq) CHECK (id >= 1),
  type        TEXT    NOT NULL CHECK (length(type) > 0),
  at_ms       INTEGER NOT NULL,
  device_id   TEXT    NOT NULL,
  device_name TEXT    NOT NULL,
  owner       TEXT    NOT NULL,
  actor       TEXT    NOT NULL,
  role        TEXT    NOT NULL,
  reason      TEXT,
  by_owner    INTEGER CHECK (by_owner IS NULL OR by_owner IN (0, 1))
) STRICT;
CREATE INDEX events_by_time ON events (at_ms);
CREATE TABLE notifier_cursors (
  client   TEXT    NOT NULL PRIMARY KEY,
  after_id INTEGER NOT NULL CHECK (after_id >= 0)
) STRICT, WITHOUT ROWID;
)sql";

// Signed audit checkpoints (API.md, "HSM modules and signed audit checkpoints"): a committed
// group's head signed in the HSM, written in the group's transaction and keyed by the head
// record's seq; and the public key of each signing key version the vault recorded
// (`vaultctl audit-signing-key create`). Public material only.
constexpr std::string_view kSchemaAuditCheckpoints = R"sql(
CREATE TABLE audit_signing_keys (
  version    INTEGER PRIMARY KEY CHECK (version BETWEEN 1 AND 4294967295),
  public_key BLOB    NOT NULL CHECK (length(public_key) > 0),
  created_ms INTEGER NOT NULL
) STRICT;
CREATE TABLE audit_checkpoints (
  seq         INTEGER PRIMARY KEY REFERENCES audit (seq) CHECK (seq >= 1),
  hash        BLOB    NOT NULL CHECK (length(hash) = 32),
  at_ms       INTEGER NOT NULL,
  key_version INTEGER NOT NULL REFERENCES audit_signing_keys (version),
  signature   BLOB    NOT NULL CHECK (length(signature) > 0)
) STRICT;
)sql";

constexpr std::array kMigrations{
    Migration{1, "devices, key versions, audit, meta, quota", kSchemaV1},
    Migration{2, "key version counts per master key", kSchemaV2},
    Migration{3, "index of active key versions", kSchemaV3},
    Migration{4, "key version state checked without a temporary index", kSchemaV4},
    Migration{5, "quota counted over a rolling 24 hours", kSchemaV5},
    Migration{6, "keyed fingerprints, device state records", kSchemaV6},
    Migration{7, "the kind of principal that stored each key version", kSchemaV7},
    Migration{8, "key ids, key sources and verify marks of key versions", kSchemaV8},
    Migration{9, "escrow CA and escrow certificates (Apple MDM)", kSchemaV9},
    Migration{10, "replay record of accepted CMS envelopes (Apple MDM)", kSchemaV10},
    Migration{11, "the mdm's rotation command in device state records", kSchemaV11},
    Migration{12, "when each pending rotation was requested, and overdue notes", kSchemaV12},
    Migration{13, "index of key releases per device (accesses)", kSchemaV13},
    Migration{14, "dual control: access requests and their approvals", kSchemaAccessRequests},
    Migration{15, "MACs of access request approvals", kSchemaApprovalMacs},
    Migration{16, "events and notifier cursors", kSchemaEvents},
    Migration{17, "signed audit checkpoints and their signing keys", kSchemaAuditCheckpoints},
};

constexpr Query kHasVersionTable{
    "read schema version",
    "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'schema_version'"};
constexpr Query kCountTables{
    "read schema version",
    "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite%'"};
constexpr Query kMaxVersion{"read schema version",
                            "SELECT coalesce(max(version), 0) FROM schema_version"};
constexpr Query kRecordVersion{
    "record schema version",
    "INSERT INTO schema_version (version, description, applied_ms) VALUES "
    "(?1, ?2, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))"};
constexpr std::string_view kCreateVersionTable = R"sql(
CREATE TABLE schema_version (
  version     INTEGER NOT NULL PRIMARY KEY CHECK (version >= 1),
  description TEXT    NOT NULL,
  applied_ms  INTEGER NOT NULL
) STRICT;
)sql";

Result<std::int64_t> QueryInt(Database& db, const Query& query) {
  ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(query));
  ESCROW_ASSIGN_OR_RETURN(bool row, stmt->Step());
  if (!row) return Status::Internal(std::string(query.name) + ": no row");
  return stmt->ColumnInt64(0);
}

// The recorded version; 0 for an empty database.
Result<int> ReadVersion(Database& db) {
  ESCROW_ASSIGN_OR_RETURN(std::string app_id, db.Pragma("application_id"));
  if (app_id != "0" && app_id != std::to_string(kApplicationId)) {
    return Status::FailedPrecondition(db.path() +
                                      " is not a vault database (foreign application_id)");
  }
  ESCROW_ASSIGN_OR_RETURN(std::int64_t has_table, QueryInt(db, kHasVersionTable));
  if (has_table == 0) {
    ESCROW_ASSIGN_OR_RETURN(std::int64_t tables, QueryInt(db, kCountTables));
    if (tables != 0) {
      return Status::FailedPrecondition(db.path() +
                                        " is not a vault database (it has tables but no "
                                        "schema_version)");
    }
    return 0;
  }
  ESCROW_ASSIGN_OR_RETURN(std::int64_t version, QueryInt(db, kMaxVersion));
  if (version < 0 || version > 1'000'000) {
    return Status::DataLoss("schema_version holds an impossible version");
  }
  return static_cast<int>(version);
}

Status CheckNotNewer(int version) {
  if (version > LatestSchemaVersion()) {
    return Status::FailedPrecondition(
        "database schema version " + std::to_string(version) + " is newer than this vault (" +
        std::to_string(LatestSchemaVersion()) + "); upgrade the vault");
  }
  return Status::Ok();
}

Status Apply(Database& db, const Migration& migration) {
  const std::string name = "migration " + std::to_string(migration.version);
  ESCROW_RETURN_IF_ERROR(db.RunScript("apply migration", migration.sql).WithContext(name));
  ESCROW_ASSIGN_OR_RETURN(StatementLease record, db.Prepare(kRecordVersion));
  ESCROW_RETURN_IF_ERROR(record->BindInt64(1, std::int64_t{migration.version}));
  ESCROW_RETURN_IF_ERROR(record->BindText(2, migration.description));
  return record->Run();
}

}  // namespace

std::span<const Migration> Migrations() { return kMigrations; }

int LatestSchemaVersion() { return kMigrations.back().version; }

Result<int> CheckSchema(Database& db, bool allow_create) {
  ESCROW_ASSIGN_OR_RETURN(int version, ReadVersion(db));
  ESCROW_RETURN_IF_ERROR(CheckNotNewer(version));
  if (version == 0 && !allow_create) {
    return Status::FailedPrecondition(db.path() +
                                      " holds no vault schema and create was not requested");
  }
  return version;
}

Result<int> Migrate(Database& db, bool allow_create) {
  ESCROW_ASSIGN_OR_RETURN(int version, CheckSchema(db, allow_create));
  if (version == LatestSchemaVersion()) return version;

  ESCROW_ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(db));
  // Another process may have migrated between the read above and the write lock.
  ESCROW_ASSIGN_OR_RETURN(version, ReadVersion(db));
  ESCROW_RETURN_IF_ERROR(CheckNotNewer(version));
  if (version == 0) {
    ESCROW_RETURN_IF_ERROR(db.RunScript("create schema_version", kCreateVersionTable));
    ESCROW_RETURN_IF_ERROR(db.RunScript(
        "set application_id", "PRAGMA application_id = " + std::to_string(kApplicationId)));
  }
  for (const Migration& migration : kMigrations) {
    if (migration.version <= version) continue;
    ESCROW_RETURN_IF_ERROR(Apply(db, migration));
    version = migration.version;
  }
  ESCROW_RETURN_IF_ERROR(txn.Commit());
  return version;
}

}  // namespace escrow::storage
