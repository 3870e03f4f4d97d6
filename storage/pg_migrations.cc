#include "storage/pg_migrations.h"

#include <array>
#include <string>

#include "storage/migrations.h"
#include "storage/pg_connection.h"

namespace escrow::storage {
namespace {

// Translation rules, applied to every migration of migrations.cc:
// - INTEGER is BIGINT (32-bit versions keep their BETWEEN checks), BLOB is BYTEA, length() of
//   a blob is octet_length(), 0/1 flags are BOOLEAN (the type is the check).
// - Every TEXT is COLLATE "C": ids and cursors compare and sort by bytes, as in SQLite,
//   whatever the database's locale.
// - GLOB checks are regular expressions; SQLite's triggers are PL/pgSQL functions.
// - SQLite-only work (migration 4 rebuilt a table to avoid a temporary index) is a no-op
//   here; the number is still recorded.
// PostgreSQL only, in migration 1: audit_head, the chain's head row. Every write
// transaction locks it first (SELECT ... FOR UPDATE), which serialises writers across nodes
// as BEGIN IMMEDIATE does on one SQLite file; a trigger on audit advances it and refuses a
// record that is not the head plus one, so the chain cannot fork or leave a gap even for a
// writer that bypasses the store.
constexpr std::string_view kV1 = R"sql(
CREATE TABLE devices (
  id                 TEXT COLLATE "C" NOT NULL PRIMARY KEY CHECK (length(id) > 0),
  serial             TEXT COLLATE "C" NOT NULL,
  name               TEXT COLLATE "C" NOT NULL,
  platform           TEXT COLLATE "C" NOT NULL,
  ownership          TEXT COLLATE "C" NOT NULL CHECK (ownership IN ('corporate', 'personal')),
  owner              TEXT COLLATE "C" NOT NULL,
  encryption_enabled BOOLEAN NOT NULL,
  rotation_pending   BOOLEAN NOT NULL,
  last_checkin_ms    BIGINT,
  created_ms         BIGINT  NOT NULL,
  updated_ms         BIGINT  NOT NULL
);
CREATE INDEX devices_by_owner ON devices (owner, id);
CREATE INDEX devices_by_serial ON devices (serial, id);

CREATE TABLE key_versions (
  device_id          TEXT COLLATE "C" NOT NULL REFERENCES devices (id),
  version            BIGINT NOT NULL CHECK (version BETWEEN 1 AND 4294967295),
  kind               TEXT COLLATE "C" NOT NULL,
  owner              TEXT COLLATE "C" NOT NULL,
  ownership          TEXT COLLATE "C" NOT NULL CHECK (ownership IN ('corporate', 'personal')),
  master_key_version BIGINT NOT NULL CHECK (master_key_version BETWEEN 0 AND 4294967295),
  iv                 BYTEA  NOT NULL CHECK (octet_length(iv) = 12),
  ciphertext         BYTEA  NOT NULL,
  tag                BYTEA  NOT NULL CHECK (octet_length(tag) = 16),
  state              TEXT COLLATE "C" NOT NULL
                     CHECK (state IN ('active', 'superseded', 'destroyed')),
  stored_ms          BIGINT NOT NULL,
  stored_by          TEXT COLLATE "C" NOT NULL,
  burned             BOOLEAN NOT NULL,
  PRIMARY KEY (device_id, version)
);
CREATE INDEX key_versions_by_master_key ON key_versions (master_key_version, device_id, version);

CREATE TABLE audit (
  seq                BIGINT PRIMARY KEY CHECK (seq >= 1),
  time_ms            BIGINT NOT NULL,
  actor              TEXT COLLATE "C" NOT NULL,
  role               TEXT COLLATE "C" NOT NULL,
  action             TEXT COLLATE "C" NOT NULL,
  device_id          TEXT COLLATE "C" NOT NULL,
  outcome            TEXT COLLATE "C" NOT NULL,
  reason             TEXT COLLATE "C" NOT NULL,
  detail             TEXT COLLATE "C" NOT NULL,
  hash               BYTEA  NOT NULL CHECK (octet_length(hash) = 32),
  mac                BYTEA  CHECK (mac IS NULL OR octet_length(mac) BETWEEN 16 AND 64),
  audit_key_version  BIGINT NOT NULL CHECK (audit_key_version BETWEEN 0 AND 4294967295)
);
CREATE INDEX audit_by_device ON audit (device_id);
-- The chain would show an edit anyway; these stop a bug of ours (or a careless operator
-- without the table owner's rights) from making one.
CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit records are append-only' USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER audit_no_update BEFORE UPDATE OR DELETE ON audit
  FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
  FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();

CREATE TABLE audit_head (
  id  SMALLINT NOT NULL PRIMARY KEY CHECK (id = 1),
  seq BIGINT   NOT NULL CHECK (seq >= 0)
);
INSERT INTO audit_head (id, seq) VALUES (1, 0);
CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head
  FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON audit_head
  FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
CREATE FUNCTION audit_advance_head() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE audit_head SET seq = NEW.seq WHERE id = 1 AND seq = NEW.seq - 1;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'an audit record must follow the head' USING ERRCODE = 'restrict_violation';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER audit_advance_head BEFORE INSERT ON audit
  FOR EACH ROW EXECUTE FUNCTION audit_advance_head();

CREATE TABLE meta (
  key   TEXT COLLATE "C" NOT NULL PRIMARY KEY,
  value TEXT COLLATE "C" NOT NULL
);

CREATE TABLE quota (
  principal TEXT COLLATE "C" NOT NULL,
  day       TEXT COLLATE "C" NOT NULL,
  count     BIGINT NOT NULL CHECK (count >= 0),
  PRIMARY KEY (principal, day)
);
)sql";

constexpr std::string_view kV2 = R"sql(
CREATE TABLE key_version_counts (
  master_key_version BIGINT NOT NULL PRIMARY KEY,
  count              BIGINT NOT NULL CHECK (count >= 0)
);
INSERT INTO key_version_counts (master_key_version, count)
  SELECT master_key_version, count(*) FROM key_versions GROUP BY master_key_version;
CREATE FUNCTION key_versions_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' OR TG_OP = 'DELETE' THEN
    UPDATE key_version_counts SET count = count - 1
      WHERE master_key_version = OLD.master_key_version;
  END IF;
  IF TG_OP = 'INSERT' OR TG_OP = 'UPDATE' THEN
    INSERT INTO key_version_counts (master_key_version, count) VALUES (NEW.master_key_version, 1)
      ON CONFLICT (master_key_version) DO UPDATE SET count = key_version_counts.count + 1;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER key_versions_count_insert AFTER INSERT ON key_versions
  FOR EACH ROW EXECUTE FUNCTION key_versions_count();
CREATE TRIGGER key_versions_count_update AFTER UPDATE OF master_key_version ON key_versions
  FOR EACH ROW WHEN (OLD.master_key_version <> NEW.master_key_version)
  EXECUTE FUNCTION key_versions_count();
CREATE TRIGGER key_versions_count_delete AFTER DELETE ON key_versions
  FOR EACH ROW EXECUTE FUNCTION key_versions_count();
)sql";

constexpr std::string_view kV3 = R"sql(
CREATE INDEX key_versions_active ON key_versions (device_id, version) WHERE state = 'active';
)sql";

// SQLite rebuilt key_versions to write its state check as comparisons; PostgreSQL evaluates
// IN without a temporary index. Nothing to change.
constexpr std::string_view kV4 = "SELECT 1;";

constexpr std::string_view kV5 = R"sql(
CREATE TABLE quota_events (
  principal TEXT COLLATE "C" NOT NULL,
  at_ms     BIGINT NOT NULL
);
CREATE INDEX quota_events_by_principal ON quota_events (principal, at_ms);
INSERT INTO quota_events (principal, at_ms)
  SELECT q.principal, (extract(epoch FROM q.day::date) * 1000)::bigint
    FROM quota AS q CROSS JOIN LATERAL generate_series(1, q.count) AS n
    WHERE q.day = to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD');
DELETE FROM quota;
)sql";

constexpr std::string_view kV6 = R"sql(
ALTER TABLE key_versions ADD COLUMN fingerprint BYTEA
  CHECK (fingerprint IS NULL OR octet_length(fingerprint) = 32);
ALTER TABLE key_versions ADD COLUMN fingerprint_key_version BIGINT
  CHECK (fingerprint_key_version IS NULL OR fingerprint_key_version BETWEEN 1 AND 4294967295);
CREATE TABLE device_states (
  device_id          TEXT COLLATE "C" NOT NULL PRIMARY KEY REFERENCES devices (id),
  current_version    BIGINT  NOT NULL CHECK (current_version BETWEEN 0 AND 4294967295),
  rotation_pending   BOOLEAN NOT NULL,
  burned             BYTEA   NOT NULL CHECK (octet_length(burned) % 32 = 0),
  audit_seq          BIGINT  NOT NULL CHECK (audit_seq >= 1),
  audit_hash         BYTEA   NOT NULL CHECK (octet_length(audit_hash) = 32),
  state_key_version  BIGINT  NOT NULL CHECK (state_key_version BETWEEN 1 AND 4294967295),
  mac                BYTEA   NOT NULL CHECK (octet_length(mac) = 32)
);
CREATE INDEX audit_state_changes ON audit (device_id, seq) WHERE outcome = 'ok' AND action IN (
  'device.enrol', 'device.change_owner', 'key.store', 'key.retrieve', 'key.retrieve_older',
  'key.rotate');
)sql";

constexpr std::string_view kV7 = R"sql(
ALTER TABLE key_versions ADD COLUMN stored_by_kind TEXT COLLATE "C"
  CHECK (stored_by_kind IN ('user', 'client'));
UPDATE quota_events SET principal = 'user:' || principal WHERE principal NOT LIKE 'user:%';
)sql";

constexpr std::string_view kV8 = R"sql(
ALTER TABLE key_versions ADD COLUMN key_id TEXT COLLATE "C"
  CHECK (key_id IS NULL OR length(key_id) BETWEEN 1 AND 64);
ALTER TABLE key_versions ADD COLUMN source TEXT COLLATE "C"
  CHECK (source IN ('typed', 'mdm', 'cms'));
ALTER TABLE key_versions ADD COLUMN verified_ms BIGINT;
UPDATE key_versions SET source = CASE stored_by_kind WHEN 'client' THEN 'mdm' ELSE 'typed' END
  WHERE stored_by_kind IS NOT NULL;
CREATE INDEX key_versions_by_key_id ON key_versions (key_id, device_id)
  WHERE key_id IS NOT NULL;
)sql";

constexpr std::string_view kV9 = R"sql(
CREATE TABLE escrow_cas (
  version    BIGINT NOT NULL PRIMARY KEY CHECK (version BETWEEN 1 AND 4294967295),
  serial     TEXT COLLATE "C" NOT NULL UNIQUE CHECK (serial ~ '^[0-9a-f]{32}$'),
  not_before BIGINT NOT NULL,
  not_after  BIGINT NOT NULL CHECK (not_after > not_before),
  sha256     TEXT COLLATE "C" NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  der        BYTEA  NOT NULL CHECK (octet_length(der) > 0)
);
CREATE TABLE escrow_certificates (
  serial      TEXT COLLATE "C" NOT NULL PRIMARY KEY CHECK (serial ~ '^[0-9a-f]{32}$'),
  key_version BIGINT NOT NULL CHECK (key_version BETWEEN 1 AND 4294967295),
  ca_version  BIGINT NOT NULL REFERENCES escrow_cas (version),
  kind        TEXT COLLATE "C" NOT NULL CHECK (kind IN ('fleet', 'device')),
  device_id   TEXT COLLATE "C" REFERENCES devices (id),
  state       TEXT COLLATE "C" NOT NULL CHECK (state IN ('current', 'active', 'retired')),
  not_before  BIGINT NOT NULL,
  not_after   BIGINT NOT NULL CHECK (not_after > not_before),
  sha256      TEXT COLLATE "C" NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  der         BYTEA  NOT NULL CHECK (octet_length(der) > 0),
  CHECK ((kind = 'device') = (device_id IS NOT NULL)),
  CHECK (state <> 'current' OR kind = 'fleet')
);
CREATE UNIQUE INDEX escrow_certificates_one_current ON escrow_certificates (kind)
  WHERE state = 'current';
CREATE INDEX escrow_certificates_by_device ON escrow_certificates (device_id, key_version)
  WHERE device_id IS NOT NULL;
CREATE INDEX escrow_certificates_by_key ON escrow_certificates (key_version, kind);
)sql";

constexpr std::string_view kV10 = R"sql(
CREATE TABLE cms_envelopes (
  digest    BYTEA  NOT NULL PRIMARY KEY CHECK (octet_length(digest) = 32),
  device_id TEXT COLLATE "C" NOT NULL REFERENCES devices (id),
  stored_ms BIGINT NOT NULL
);
)sql";

constexpr std::string_view kV11 = R"sql(
ALTER TABLE device_states ADD COLUMN rotation_command_sent BOOLEAN NOT NULL DEFAULT false
  CHECK (NOT rotation_command_sent OR rotation_pending);
DROP INDEX audit_state_changes;
CREATE INDEX audit_state_changes ON audit (device_id, seq) WHERE outcome = 'ok' AND action IN (
  'device.enrol', 'device.change_owner', 'key.store', 'key.retrieve', 'key.retrieve_older',
  'key.rotate', 'key.rotation_command');
)sql";

constexpr std::string_view kV12 = R"sql(
ALTER TABLE devices ADD COLUMN rotation_requested_ms BIGINT
  CHECK (rotation_requested_ms IS NULL OR rotation_requested_ms >= 0);
ALTER TABLE devices ADD COLUMN rotation_overdue_noted BOOLEAN NOT NULL DEFAULT false;
UPDATE devices SET rotation_requested_ms = (extract(epoch FROM now()) * 1000)::bigint
  WHERE rotation_pending;
CREATE INDEX devices_rotation_pending ON devices (id) WHERE rotation_pending;
CREATE INDEX devices_rotation_pending_since ON devices (rotation_requested_ms)
  WHERE rotation_pending;
CREATE INDEX devices_rotation_overdue_unnoted ON devices (rotation_requested_ms)
  WHERE rotation_pending AND NOT rotation_overdue_noted;
)sql";

constexpr std::string_view kV13 = R"sql(
CREATE INDEX audit_releases ON audit (device_id, seq) WHERE outcome = 'ok' AND action IN (
  'key.retrieve', 'key.retrieve_older', 'key.rotation_command');
)sql";

// SQLite's INTEGER PRIMARY KEY takes the next number itself; here an identity column does
// (BY DEFAULT, so that `vaultctl db migrate` can copy the numbers a SQLite vault gave).
constexpr std::string_view kV14 = R"sql(
CREATE TABLE access_requests (
  seq        BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  id         TEXT COLLATE "C" NOT NULL UNIQUE CHECK (id ~ '^[0-9a-f]{32}$'),
  device_id  TEXT COLLATE "C" NOT NULL REFERENCES devices (id),
  requester  TEXT COLLATE "C" NOT NULL CHECK (length(requester) > 0),
  reason     TEXT COLLATE "C" NOT NULL,
  version    BIGINT NOT NULL CHECK (version BETWEEN 1 AND 4294967295),
  state      TEXT COLLATE "C" NOT NULL
             CHECK (state IN ('pending', 'approved', 'denied', 'expired', 'used')),
  created_ms BIGINT NOT NULL,
  expires_ms BIGINT NOT NULL CHECK (expires_ms > created_ms),
  approver   TEXT COLLATE "C",
  decided_ms BIGINT,
  note       TEXT COLLATE "C",
  used_ms    BIGINT,
  CHECK (state IN ('pending', 'expired') OR approver IS NOT NULL),
  CHECK (state <> 'used' OR used_ms IS NOT NULL)
);
CREATE INDEX access_requests_by_requester ON access_requests (requester, seq);
CREATE INDEX access_requests_by_device ON access_requests (device_id);
)sql";

constexpr std::string_view kV15 = R"sql(
ALTER TABLE access_requests ADD COLUMN approval_mac BYTEA;
ALTER TABLE access_requests ADD COLUMN approval_key_version BIGINT
  CHECK (approval_key_version BETWEEN 1 AND 4294967295);
)sql";

constexpr std::string_view kV16 = R"sql(
CREATE TABLE events (
  id          BIGINT PRIMARY KEY REFERENCES audit (seq) CHECK (id >= 1),
  type        TEXT COLLATE "C" NOT NULL CHECK (length(type) > 0),
  at_ms       BIGINT NOT NULL,
  device_id   TEXT COLLATE "C" NOT NULL,
  device_name TEXT COLLATE "C" NOT NULL,
  owner       TEXT COLLATE "C" NOT NULL,
  actor       TEXT COLLATE "C" NOT NULL,
  role        TEXT COLLATE "C" NOT NULL,
  reason      TEXT COLLATE "C",
  by_owner    BOOLEAN
);
CREATE INDEX events_by_time ON events (at_ms);
CREATE TABLE notifier_cursors (
  client   TEXT COLLATE "C" NOT NULL PRIMARY KEY,
  after_id BIGINT NOT NULL CHECK (after_id >= 0)
);
)sql";

constexpr std::string_view kV17 = R"sql(
CREATE TABLE audit_signing_keys (
  version    BIGINT PRIMARY KEY CHECK (version BETWEEN 1 AND 4294967295),
  public_key BYTEA  NOT NULL CHECK (length(public_key) > 0),
  created_ms BIGINT NOT NULL
);
CREATE TABLE audit_checkpoints (
  seq         BIGINT PRIMARY KEY REFERENCES audit (seq) CHECK (seq >= 1),
  hash        BYTEA  NOT NULL CHECK (length(hash) = 32),
  at_ms       BIGINT NOT NULL,
  key_version BIGINT NOT NULL REFERENCES audit_signing_keys (version),
  signature   BYTEA  NOT NULL CHECK (length(signature) > 0)
);
)sql";

constexpr std::array<std::string_view, 17> kScripts{kV1,  kV2,  kV3,  kV4,  kV5,  kV6,
                                                    kV7,  kV8,  kV9,  kV10, kV11, kV12,
                                                    kV13, kV14, kV15, kV16, kV17};

constexpr std::string_view kCreateVersionTable = R"sql(
CREATE TABLE schema_version (
  version     BIGINT NOT NULL PRIMARY KEY CHECK (version >= 1),
  description TEXT COLLATE "C" NOT NULL,
  applied_ms  BIGINT NOT NULL
);
COMMENT ON TABLE schema_version IS 'escrow vault schema';
)sql";

constexpr Query kHasVersionTable{
    "read schema version",
    "SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = current_schema() AND "
    "tablename = 'schema_version'"};
constexpr Query kCountTables{"read schema version",
                             "SELECT count(*) FROM pg_catalog.pg_tables WHERE "
                             "schemaname = current_schema()"};
constexpr Query kMaxVersion{"read schema version",
                            "SELECT coalesce(max(version), 0) FROM schema_version"};
constexpr Query kRecordVersion{
    "record schema version",
    "INSERT INTO schema_version (version, description, applied_ms) VALUES "
    "($1, $2, (extract(epoch FROM clock_timestamp()) * 1000)::bigint)"};
// Two nodes starting at once: the second waits, then finds the schema current.
constexpr std::string_view kMigrationLock = "SELECT pg_advisory_xact_lock(1163084626)";  // "ESCR"

Result<std::int64_t> QueryInt(PgConnection& conn, const Query& query) {
  ESCROW_ASSIGN_OR_RETURN(PgResult result, conn.Exec(query));
  if (result.rows() != 1) return Status::Internal(std::string(query.name) + ": no row");
  return result.Int64(0, 0);
}

Result<int> ReadVersion(PgConnection& conn) {
  ESCROW_ASSIGN_OR_RETURN(std::int64_t has_table, QueryInt(conn, kHasVersionTable));
  if (has_table == 0) {
    ESCROW_ASSIGN_OR_RETURN(std::int64_t tables, QueryInt(conn, kCountTables));
    if (tables != 0) {
      return Status::FailedPrecondition(
          "the database is not a vault database (it has tables but no schema_version)");
    }
    return 0;
  }
  ESCROW_ASSIGN_OR_RETURN(std::int64_t version, QueryInt(conn, kMaxVersion));
  if (version < 0 || version > 1'000'000) {
    return Status::DataLoss("schema_version holds an impossible version");
  }
  return static_cast<int>(version);
}

Status CheckNotNewer(int version) {
  if (version > PgLatestSchemaVersion()) {
    return Status::FailedPrecondition(
        "database schema version " + std::to_string(version) + " is newer than this vault (" +
        std::to_string(PgLatestSchemaVersion()) + "); upgrade the vault");
  }
  return Status::Ok();
}

Status Apply(PgConnection& conn, int version, std::string_view sql) {
  const std::string name = "migration " + std::to_string(version);
  ESCROW_RETURN_IF_ERROR(conn.Run("apply migration", std::string(sql)).WithContext(name));
  std::string_view description = "PostgreSQL migration";
  for (const Migration& m : Migrations()) {
    if (m.version == version) description = m.description;
  }
  PgParams params;
  params.Int64(std::int64_t{version}).Text(description);
  return conn.Exec(kRecordVersion, params).status();
}

Result<int> MigrateLocked(PgConnection& conn, bool allow_create) {
  ESCROW_RETURN_IF_ERROR(conn.Run("lock for migration", std::string(kMigrationLock)));
  ESCROW_ASSIGN_OR_RETURN(int version, ReadVersion(conn));
  ESCROW_RETURN_IF_ERROR(CheckNotNewer(version));
  if (version == 0 && !allow_create) {
    return Status::FailedPrecondition("the database holds no vault schema and create was not "
                                      "requested");
  }
  if (version == 0) {
    ESCROW_RETURN_IF_ERROR(
        conn.Run("create schema_version", std::string(kCreateVersionTable)));
  }
  for (int v = version + 1; v <= PgLatestSchemaVersion(); ++v) {
    ESCROW_RETURN_IF_ERROR(Apply(conn, v, kScripts[static_cast<std::size_t>(v - 1)]));
  }
  return PgLatestSchemaVersion();
}

}  // namespace

std::span<const std::string_view> PgMigrationScripts() { return kScripts; }

int PgLatestSchemaVersion() { return static_cast<int>(kScripts.size()); }

Result<int> PgCheckSchema(PgConnection& conn, bool allow_create) {
  ESCROW_ASSIGN_OR_RETURN(int version, ReadVersion(conn));
  ESCROW_RETURN_IF_ERROR(CheckNotNewer(version));
  if (version == 0 && !allow_create) {
    return Status::FailedPrecondition("the database holds no vault schema and create was not "
                                      "requested");
  }
  return version;
}

Result<int> PgMigrate(PgConnection& conn, bool allow_create) {
  ESCROW_ASSIGN_OR_RETURN(int version, PgCheckSchema(conn, allow_create));
  if (version == PgLatestSchemaVersion()) return version;
  ESCROW_RETURN_IF_ERROR(conn.Run("begin migration", "BEGIN ISOLATION LEVEL READ COMMITTED"));
  Result<int> migrated = MigrateLocked(conn, allow_create);
  if (!migrated.ok()) {
    if (Status undo = conn.Run("roll back migration", "ROLLBACK"); !undo.ok()) {
      conn.MarkBroken();
    }
    return migrated.status();
  }
  ESCROW_RETURN_IF_ERROR(conn.Run("commit migration", "COMMIT"));
  return migrated;
}

}  // namespace escrow::storage
