#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "base/bytes.h"
#include "storage/row_enums.h"

namespace escrow::storage {

// Rows as stored. storage/ is untrusted: it holds ciphertext, hashes and metadata, never
// plaintext key material, and vault/ checks everything it reads back (AAD, chain, MACs).
// Closed sets are enums (row_enums.h): a stored text outside them reads as kDataLoss.
// Times are Unix milliseconds.

struct DeviceRow {
  std::string id;
  std::string serial;
  std::string name;
  Platform platform = Platform::kMacos;
  Ownership ownership = Ownership::kCorporate;
  std::string owner;
  bool encryption_enabled = false;
  bool rotation_pending = false;
  std::optional<std::int64_t> last_checkin_ms;
  std::int64_t created_ms = 0;
  std::int64_t updated_ms = 0;
  // When the pending rotation became pending (migration 12): set once per pending rotation,
  // none while none is pending.
  std::optional<std::int64_t> rotation_requested_ms;
  // The overdue sweep wrote this pending rotation's rotation_overdue record.
  bool rotation_overdue_noted = false;
};

struct KeyVersionRow {
  std::string device_id;
  std::uint32_t version = 0;                    // 1, 2, 3, ... per device
  Platform kind = Platform::kMacos;             // platform at storage
  std::string owner;                            // owner at storage
  Ownership ownership = Ownership::kCorporate;  // ownership at storage
  std::uint32_t master_key_version = 0;
  Bytes iv;
  Bytes ciphertext;
  Bytes tag;
  VersionState state = VersionState::kActive;
  std::int64_t stored_ms = 0;
  std::string stored_by;                       // the bare name (a user's, or a client's)
  std::optional<PrincipalKind> stored_by_kind;  // none for rows stored before migration 6
  bool burned = false;  // released (or its owner changed): rotation must differ
  // The keyed fingerprint (API.md: HMAC-SHA256 under escrow-fingerprint-v<N>, bound to the
  // device) and its key's N. Absent only on versions stored before `vaultctl upgrade`.
  std::optional<Bytes> fingerprint;
  std::uint32_t fingerprint_key_version = 0;
  // The key's own ID, normalised (a BitLocker protector GUID in upper case without braces);
  // none for keys stored without one. A version with one is sealed under associated data
  // format 2, which carries it.
  std::optional<std::string> key_id;
  // How the key reached the vault; none for rows stored before migration 8 whose kind of
  // principal is unknown.
  std::optional<KeySource> source;
  // When a verify last matched this version while it was current (the device's
  // escrow_verified_at). Shown only, never decided on: not part of the state record.
  std::optional<std::int64_t> verified_ms;
};

// A device's state record: which version is current, which keys are burned (as keyed
// fingerprints), whether a rotation is pending, and the audit record that last changed it,
// under an HSM MAC (escrow-state-v<N>) that vault/ computes and checks.
struct DeviceStateRow {
  std::string device_id;
  std::uint32_t current_version = 0;  // 0: no current version
  bool rotation_pending = false;
  // The mdm was given the current key for this pending rotation (POST .../rotation-command,
  // migration 11): at most once per pending rotation. Only with rotation_pending.
  bool rotation_command_sent = false;
  Bytes burned;  // the burned fingerprints, 32 bytes each, in ascending order, no repeats
  std::uint64_t audit_seq = 0;
  Bytes audit_hash;  // 32 bytes
  std::uint32_t state_key_version = 0;
  Bytes mac;  // 32 bytes
};

// One key version's identity: where a listing in (device_id, version) order resumes.
struct KeyVersionKey {
  std::string device_id;
  std::uint32_t version = 0;
};

// The outcome ("ok", "denied", "error") and the other texts stay text: they are hashed into
// the chain as they are, so that verification can name an edited record instead of failing
// to read it.
struct AuditRow {
  std::uint64_t seq = 0;  // 1, 2, 3, ... gap-free
  std::int64_t time_ms = 0;
  std::string actor;
  std::string role;
  std::string action;
  std::string device_id;
  std::string outcome;  // ok | denied | error
  std::string reason;
  std::string detail;
  Bytes hash;                // h_i, 32 bytes
  std::optional<Bytes> mac;  // HSM HMAC of h_i on the last record of a group
  std::uint32_t audit_key_version = 0;
};

// A principal's quota events (releases counted against a quota) after the start of a window.
struct QuotaWindow {
  std::int64_t count = 0;
  std::optional<std::int64_t> oldest_ms;  // the earliest event's time; none if count is 0
};

}  // namespace escrow::storage
