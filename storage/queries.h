#pragma once

#include "storage/statement.h"

// Every SQL statement the store runs on a request path, named for error messages. All values
// are bound (?N), never spliced in. Each lookup is served by a primary key or an index (see
// tests/storage/query_plan_test.cc): no request's cost grows with the number of rows.

#define ESCROW_DEVICE_COLUMNS                                                            \
  "id, serial, name, platform, ownership, owner, encryption_enabled, rotation_pending, " \
  "last_checkin_ms, created_ms, updated_ms, rotation_requested_ms, rotation_overdue_noted"
#define ESCROW_KEY_VERSION_COLUMNS                                                              \
  "device_id, version, kind, owner, ownership, master_key_version, iv, ciphertext, tag, "       \
  "state, stored_ms, stored_by, burned, fingerprint, fingerprint_key_version, stored_by_kind, " \
  "key_id, source, verified_ms"
#define ESCROW_DEVICE_STATE_COLUMNS                                               \
  "device_id, current_version, rotation_pending, burned, audit_seq, audit_hash, " \
  "state_key_version, mac, rotation_command_sent"
#define ESCROW_AUDIT_COLUMNS                                                           \
  "seq, time_ms, actor, role, action, device_id, outcome, reason, detail, hash, mac, " \
  "audit_key_version"

namespace escrow::storage::queries {

// devices
inline constexpr Query kGetDevice{"get device",
                                  "SELECT " ESCROW_DEVICE_COLUMNS " FROM devices WHERE id = ?1"};
// Bound as `after` for a first page: it sorts below every device id, as ids are not empty
// (a CHECK of migration 1), so that one statement with a range on the index serves every page.
inline constexpr std::string_view kBeforeEveryDeviceId = "";
// A page of an owner's devices or of a serial's, after device ?2 (kBeforeEveryDeviceId: from
// the first), at most ?3: a range of the index on (owner, id) or (serial, id), in its order.
inline constexpr Query kListDevicesByOwner{
    "list devices by owner", "SELECT " ESCROW_DEVICE_COLUMNS
                             " FROM devices WHERE owner = ?1 AND id > ?2 ORDER BY id LIMIT ?3"};
inline constexpr Query kListDevicesBySerial{
    "list devices by serial", "SELECT " ESCROW_DEVICE_COLUMNS
                              " FROM devices WHERE serial = ?1 AND id > ?2 ORDER BY id LIMIT ?3"};
// The devices with a version (not destroyed) whose key ID is between ?1 and ?2 (equal bounds:
// one ID; a prefix and the prefix followed by 0x7f: every ID that starts with it, as key IDs
// hold no character above 0x7e), recorded under owner ?3 and owned by ?3 now if it is not
// NULL, after device ?4 (NULL: from the first), at most ?5. Through the partial index of key
// IDs (migration 8). The present owner is checked here, not by the caller after the LIMIT, so
// that a page is full whenever more devices follow.
inline constexpr Query kListDevicesByKeyId{
    "list devices by key id",
    "SELECT " ESCROW_DEVICE_COLUMNS
    " FROM devices WHERE id IN (SELECT device_id FROM key_versions INDEXED BY "
    "key_versions_by_key_id WHERE key_id BETWEEN ?1 AND ?2 AND state <> 'destroyed' AND "
    "(?3 IS NULL OR owner = ?3)) AND (?3 IS NULL OR owner = ?3) AND (?4 IS NULL OR id > ?4) "
    "ORDER BY id LIMIT ?5"};
// Walks the primary key in order and stops at the limit.
inline constexpr Query kListAllDevices{
    "list devices", "SELECT " ESCROW_DEVICE_COLUMNS " FROM devices ORDER BY id LIMIT ?1"};
inline constexpr Query kUpsertDevice{
    "upsert device",
    "INSERT INTO devices (" ESCROW_DEVICE_COLUMNS
    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) "
    "ON CONFLICT (id) DO UPDATE SET serial = excluded.serial, name = excluded.name, "
    "platform = excluded.platform, ownership = excluded.ownership, owner = excluded.owner, "
    "encryption_enabled = excluded.encryption_enabled, "
    "rotation_pending = excluded.rotation_pending, last_checkin_ms = excluded.last_checkin_ms, "
    "updated_ms = excluded.updated_ms, rotation_requested_ms = excluded.rotation_requested_ms, "
    "rotation_overdue_noted = excluded.rotation_overdue_noted"};
// A rotation that becomes pending is pending since ?3; one pending already keeps its time and
// its overdue note; a cleared one loses both.
inline constexpr Query kSetRotationPending{
    "set rotation pending",
    "UPDATE devices SET rotation_requested_ms = CASE WHEN ?2 = 0 THEN NULL "
    "WHEN rotation_pending = 1 THEN rotation_requested_ms ELSE ?3 END, "
    "rotation_overdue_noted = CASE WHEN ?2 = 0 THEN 0 ELSE rotation_overdue_noted END, "
    "rotation_pending = ?2 WHERE id = ?1"};
// Rotations pending since ?1 or earlier (overdue), in id order after device ?2 (NULL: from the
// first), at most ?3: through the partial index of pending rotations (migration 12), so the
// cost grows with the pending rotations, never with the devices.
inline constexpr Query kListRotationOverdue{
    "list overdue rotations",
    "SELECT " ESCROW_DEVICE_COLUMNS
    " FROM devices INDEXED BY devices_rotation_pending WHERE rotation_pending = 1 AND "
    "rotation_requested_ms <= ?1 AND (?2 IS NULL OR id > ?2) ORDER BY id LIMIT ?3"};
inline constexpr Query kCountRotationOverdue{
    "count overdue rotations",
    "SELECT count(*) FROM devices INDEXED BY devices_rotation_pending_since "
    "WHERE rotation_pending = 1 AND rotation_requested_ms <= ?1"};
// Overdue rotations the sweep has not yet noted, oldest first, at most ?2.
inline constexpr Query kListOverdueUnnoted{
    "list overdue rotations not yet noted",
    "SELECT " ESCROW_DEVICE_COLUMNS
    " FROM devices INDEXED BY devices_rotation_overdue_unnoted WHERE rotation_pending = 1 AND "
    "rotation_overdue_noted = 0 AND rotation_requested_ms <= ?1 "
    "ORDER BY rotation_requested_ms LIMIT ?2"};
inline constexpr Query kNoteRotationOverdue{
    "note an overdue rotation",
    "UPDATE devices SET rotation_overdue_noted = 1 WHERE id = ?1 AND rotation_pending = 1 AND "
    "rotation_overdue_noted = 0 AND rotation_requested_ms = ?2"};
inline constexpr Query kSetCheckin{"set check-in",
                                   "UPDATE devices SET last_checkin_ms = ?2 WHERE id = ?1"};

// key_versions
inline constexpr Query kGetKeyVersion{"get key version",
                                      "SELECT " ESCROW_KEY_VERSION_COLUMNS
                                      " FROM key_versions WHERE device_id = ?1 AND version = ?2"};
inline constexpr Query kListKeyVersions{"list key versions",
                                        "SELECT " ESCROW_KEY_VERSION_COLUMNS
                                        " FROM key_versions WHERE device_id = ?1 ORDER BY version"};
// The newest active version stored for the device's present platform and owner (the current
// one; its recorded ownership may differ from the device's), through the partial index of
// active versions (migration 3), named so that the planner cannot walk the device's superseded
// versions instead: the cost does not grow with them.
inline constexpr Query kCurrentKeyVersion{
    "get current key version",
    "SELECT " ESCROW_KEY_VERSION_COLUMNS
    " FROM key_versions INDEXED BY key_versions_active WHERE device_id = ?1 AND state = 'active' "
    "AND kind = ?2 AND owner = ?3 ORDER BY version DESC LIMIT 1"};
inline constexpr Query kLatestKeyVersion{
    "get latest key version number",
    "SELECT coalesce(max(version), 0) FROM key_versions WHERE device_id = ?1"};
inline constexpr Query kListBurnedKeyVersions{
    "list burned key versions",
    "SELECT " ESCROW_KEY_VERSION_COLUMNS
    " FROM key_versions WHERE device_id = ?1 AND burned = 1 AND state <> 'destroyed' "
    "ORDER BY version"};
inline constexpr Query kListSealedUnder{
    "list sealed under master key",
    "SELECT " ESCROW_KEY_VERSION_COLUMNS
    " FROM key_versions WHERE master_key_version = ?1 ORDER BY device_id, version LIMIT ?2"};
inline constexpr Query kListSealedUnderAfter{
    "list sealed under master key after a row",
    "SELECT " ESCROW_KEY_VERSION_COLUMNS
    " FROM key_versions WHERE master_key_version = ?1 AND (device_id, version) > (?2, ?3)"
    " ORDER BY device_id, version LIMIT ?4"};
inline constexpr Query kInsertKeyVersion{
    "insert key version",
    "INSERT INTO key_versions (" ESCROW_KEY_VERSION_COLUMNS
    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, "
    "?19)"};
inline constexpr Query kSetKeyVersionState{
    "set key version state",
    "UPDATE key_versions SET state = ?3 WHERE device_id = ?1 AND version = ?2"};
// The active versions' numbers, then one update by primary key each: an UPDATE that walked
// the partial index while taking rows out of it would run in two passes through temporary
// tables, several times the cost of the usual single row.
inline constexpr Query kListActiveVersions{
    "list active key versions",
    "SELECT version FROM key_versions INDEXED BY key_versions_active "
    "WHERE device_id = ?1 AND state = 'active' ORDER BY version"};
inline constexpr Query kBurnActive{
    "burn active key versions",
    "UPDATE key_versions INDEXED BY key_versions_active SET burned = 1 "
    "WHERE device_id = ?1 AND state = 'active' AND burned = 0"};
inline constexpr Query kSetBurned{
    "burn key version", "UPDATE key_versions SET burned = 1 WHERE device_id = ?1 AND version = ?2"};
inline constexpr Query kReplaceSealed{
    "replace sealed key version",
    "UPDATE key_versions SET master_key_version = ?4, iv = ?5, ciphertext = ?6, tag = ?7 "
    "WHERE device_id = ?1 AND version = ?2 AND master_key_version = ?3"};
// Erases a superseded version's sealed fields in place (retention, [policy] keep_versions):
// with secure_delete on (database.cc), the old cell's bytes are overwritten, not left free.
// IV and tag keep the sizes the schema checks, as zeros; master key 0 seals nothing.
inline constexpr Query kDestroyKeyVersion{
    "destroy key version",
    "UPDATE key_versions SET state = 'destroyed', master_key_version = 0, iv = zeroblob(12), "
    "ciphertext = X'', tag = zeroblob(16) WHERE device_id = ?1 AND version = ?2 AND "
    "state = 'superseded'"};
inline constexpr Query kListUnfingerprinted{
    "list key versions without a fingerprint",
    "SELECT " ESCROW_KEY_VERSION_COLUMNS
    " FROM key_versions WHERE fingerprint IS NULL ORDER BY device_id, version LIMIT ?1"};
inline constexpr Query kListUnfingerprintedAfter{
    "list key versions without a fingerprint after a row",
    "SELECT " ESCROW_KEY_VERSION_COLUMNS
    " FROM key_versions WHERE fingerprint IS NULL AND (device_id, version) > (?1, ?2)"
    " ORDER BY device_id, version LIMIT ?3"};
inline constexpr Query kSetFingerprint{
    "set key version fingerprint",
    "UPDATE key_versions SET fingerprint = ?3, fingerprint_key_version = ?4 "
    "WHERE device_id = ?1 AND version = ?2"};
inline constexpr Query kSetVerified{
    "set key version verified",
    "UPDATE key_versions SET verified_ms = ?3 WHERE device_id = ?1 AND version = ?2"};
// Kept by triggers (migration 2): as many rows as master-key versions, not key versions.
// Master key 0 is that of destroyed versions: nothing sealed.
inline constexpr Query kCountByMasterKey{
    "count key versions by master key",
    "SELECT master_key_version, count FROM key_version_counts WHERE count > 0 AND "
    "master_key_version > 0 ORDER BY master_key_version"};

// audit
inline constexpr Query kAppendAudit{"append audit record",
                                    "INSERT INTO audit (" ESCROW_AUDIT_COLUMNS
                                    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"};
inline constexpr Query kLastAuditSeq{"read audit head", "SELECT coalesce(max(seq), 0) FROM audit"};
inline constexpr Query kListAudit{"list audit records",
                                  "SELECT " ESCROW_AUDIT_COLUMNS
                                  " FROM audit WHERE seq > ?1 ORDER BY seq LIMIT ?2"};
inline constexpr Query kListAuditByDevice{
    "list audit records of a device",
    "SELECT " ESCROW_AUDIT_COLUMNS
    " FROM audit WHERE device_id = ?3 AND seq > ?1 ORDER BY seq LIMIT ?2"};
// A device's releases (storage::kReleaseActions, outcome ok) with seq < ?2, newest first,
// through the partial index of releases (migration 12; its WHERE repeated word for word): the
// cost does not grow with the device's other records.
inline constexpr Query kListReleases{
    "list releases of a device",
    "SELECT " ESCROW_AUDIT_COLUMNS
    " FROM audit INDEXED BY audit_releases WHERE device_id = ?1 AND seq < ?2 AND "
    "outcome = 'ok' AND (action = 'key.retrieve' OR action = 'key.retrieve_older' OR "
    "action = 'key.rotation_command') ORDER BY seq DESC LIMIT ?3"};
inline constexpr Query kLastAudit{"read last audit record",
                                  "SELECT " ESCROW_AUDIT_COLUMNS
                                  " FROM audit WHERE seq = (SELECT max(seq) FROM audit)"};

inline constexpr Query kGetAudit{"get audit record",
                                 "SELECT " ESCROW_AUDIT_COLUMNS " FROM audit WHERE seq = ?1"};
// Through the partial index of state changes (migration 6): its WHERE is repeated word for
// word, as SQLite uses a partial index only for a query whose WHERE implies the index's.
inline constexpr Query kNewestStateChange{
    "read the newest state change of a device",
    "SELECT max(seq) FROM audit INDEXED BY audit_state_changes WHERE device_id = ?1 AND "
    "outcome = 'ok' AND (action = 'device.enrol' OR action = 'device.change_owner' OR "
    "action = 'key.store' OR action = 'key.retrieve' OR action = 'key.retrieve_older' OR "
    "action = 'key.rotate' OR action = 'key.rotation_command')"};

// device_states (migration 6)
inline constexpr Query kGetDeviceState{"get device state",
                                       "SELECT " ESCROW_DEVICE_STATE_COLUMNS
                                       " FROM device_states WHERE device_id = ?1"};
inline constexpr Query kListDeviceStates{"list device states",
                                         "SELECT " ESCROW_DEVICE_STATE_COLUMNS
                                         " FROM device_states ORDER BY device_id LIMIT ?1"};
inline constexpr Query kListDeviceStatesAfter{
    "list device states after a device",
    "SELECT " ESCROW_DEVICE_STATE_COLUMNS
    " FROM device_states WHERE device_id > ?2 ORDER BY device_id LIMIT ?1"};
inline constexpr Query kPutDeviceState{
    "put device state",
    "INSERT INTO device_states (" ESCROW_DEVICE_STATE_COLUMNS
    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) "
    "ON CONFLICT (device_id) DO UPDATE SET current_version = excluded.current_version, "
    "rotation_pending = excluded.rotation_pending, burned = excluded.burned, "
    "audit_seq = excluded.audit_seq, audit_hash = excluded.audit_hash, "
    "state_key_version = excluded.state_key_version, mac = excluded.mac, "
    "rotation_command_sent = excluded.rotation_command_sent"};

// meta
inline constexpr Query kGetMeta{"get meta", "SELECT value FROM meta WHERE key = ?1"};
inline constexpr Query kSetMeta{"set meta",
                                "INSERT INTO meta (key, value) VALUES (?1, ?2) "
                                "ON CONFLICT (key) DO UPDATE SET value = excluded.value"};

// quota_events (migration 5): one row per release counted against a principal's quota, read
// and pruned through the index on (principal, at_ms).
inline constexpr Query kQuotaWindow{
    "read quota window",
    "SELECT count(*), min(at_ms) FROM quota_events WHERE principal = ?1 AND at_ms > ?2"};
inline constexpr Query kInsertQuotaEvent{
    "insert quota event", "INSERT INTO quota_events (principal, at_ms) VALUES (?1, ?2)"};
inline constexpr Query kPruneQuotaEvents{
    "prune quota events", "DELETE FROM quota_events WHERE principal = ?1 AND at_ms <= ?2"};

}  // namespace escrow::storage::queries

#undef ESCROW_DEVICE_COLUMNS
#undef ESCROW_KEY_VERSION_COLUMNS
#undef ESCROW_AUDIT_COLUMNS
