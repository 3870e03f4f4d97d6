#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string_view>

#include "base/bytes.h"
#include "base/result.h"
#include "storage/audit_records.h"
#include "storage/device_states.h"
#include "storage/rows.h"

namespace escrow::hsm {
class KeyService;
}

namespace escrow::vault {

// A device's authenticated state (DESIGN.md, "Authenticated state, not only authenticated
// ciphertext"): which version is current, which keys are burned (keyed fingerprints), whether
// a rotation is pending, and the audit record that last changed it, under an HMAC computed in
// the HSM with escrow-state-v<N>. The MAC's input:
//   "escrow-state" | u8 1 | u16be len | device_id | u32be current_version |
//   u8 rotation_pending | u32be count | count x 32-byte fingerprint | u64be audit_seq |
//   32-byte audit_hash | u32be state_key_version
// Format 2, for a record whose pending rotation's command was sent to the mdm, is format 1
// with u8 2 for the format and u8 1 (rotation_command_sent) appended.
// A database writer can change the rows the vault serves from, but not this record: every
// release and store checks it against them, and against the audit trail.
Bytes StateMacInput(const storage::DeviceStateRow& row);

// Whether `fingerprint` is in the record's burned set (compared in constant time).
bool IsBurned(const storage::DeviceStateRow& row, std::span<const std::uint8_t> fingerprint);
// Adds `fingerprint` to the burned set (sorted, no repeats). REQUIRES: 32 bytes.
void Burn(storage::DeviceStateRow& row, std::span<const std::uint8_t> fingerprint);

// Burns the fingerprint of each version `burns` selects. kDataLoss "integrity_error" naming
// the first selected version that has none (after `vaultctl upgrade` every version has one);
// then `row` may hold some of the selection already.
Status BurnVersions(storage::DeviceStateRow& row, std::span<const storage::KeyVersionRow> versions,
                    const std::function<bool(const storage::KeyVersionRow&)>& burns);

// What a request reads, in its own transaction, to trust a device's state.
struct StateEvidence {
  std::optional<storage::DeviceStateRow> state;
  std::optional<std::uint64_t> newest_change;  // the newest audit record that changed it
  std::optional<storage::AuditRow> anchor;     // the audit record the state names
};
Result<StateEvidence> ReadStateEvidence(storage::DeviceStateReader& states,
                                        storage::AuditReader& audit, std::string_view device_id);

// OK if the device's state record is the vault's and current: it exists, its MAC verifies in
// the HSM, the audit record it names is there with its hash, and no later audit record changed
// the device. Otherwise kDataLoss "integrity_error" (the message says which, for the audit);
// the HSM's kUnavailable as it is.
Status CheckStateEvidence(hsm::KeyService& keys, std::string_view device_id,
                          const StateEvidence& evidence);

// Points `row` at the audit record (seq, hash) that carries its change and MACs it in the HSM
// under escrow-state-v<state_key_version>.
Status SealState(hsm::KeyService& keys, std::uint32_t state_key_version, std::uint64_t audit_seq,
                 std::span<const std::uint8_t> audit_hash, storage::DeviceStateRow& row);

}  // namespace escrow::vault
