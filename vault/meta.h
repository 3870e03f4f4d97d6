#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"
#include "storage/store.h"

namespace escrow::vault {

// The meta rows. One parser for the versions, so vaultd, vaultctl and the escrow service agree
// on what a stored version may be, and one writer, so no caller spells a row's key by hand.
enum class MetaKey {
  kActiveMasterKeyVersion,  // "active_master_key_version": the key new records are sealed under
  kAuditKeyVersion,         // "audit_key_version": the key the audit chain is MACed with
  kRotationTarget,          // "rotation_target": a master-key rotation in progress; "" = none
  kLastBackup,              // "last_backup": the newest `db backup` as JSON text (not a version)
  kFingerprintKeyVersion,   // "fingerprint_key_version": the key new fingerprints are made with
  kStateKeyVersion,         // "state_key_version": the key new device state records are MACed with
  kEventsLagAlerted,        // "events_lag_alerted": "1" while a lag episode has had its alert
};

// The row's key in the meta table, e.g. "active_master_key_version".
std::string_view MetaKeyName(MetaKey key);

// A stored version: canonical decimal (digits only, no leading zero), 1..2^32-1. kDataLoss
// naming the key otherwise (an empty text included).
Result<std::uint32_t> ParseMetaVersion(MetaKey key, std::string_view text);

// Reads and parses the version under `key` inside a transaction, read or write (a seal
// re-reads the active master-key version in its write transaction so that a rotation cannot
// race it), or in a read transaction of its own. kNotFound if the row is absent; kDataLoss if
// it does not parse.
Result<std::uint32_t> ReadMetaVersion(storage::MetaReader& meta, MetaKey key);
Result<std::uint32_t> ReadMetaVersion(storage::Store& store, MetaKey key);

// For a version that may be unset (rotation_target): nullopt if the row is absent or empty.
Result<std::optional<std::uint32_t>> ReadOptionalMetaVersion(storage::MetaReader& meta,
                                                             MetaKey key);
Result<std::optional<std::uint32_t>> ReadOptionalMetaVersion(storage::Store& store, MetaKey key);

// Writes `version` in its canonical decimal form (what ParseMetaVersion reads back).
Status WriteMetaVersion(storage::WriteTxn& txn, MetaKey key, std::uint32_t version);
// Writes "" (no version): a finished rotation clears rotation_target this way.
Status ClearMetaVersion(storage::WriteTxn& txn, MetaKey key);

// A row that holds text (last_backup): nullopt if absent; written as given.
Result<std::optional<std::string>> ReadMetaText(storage::Store& store, MetaKey key);
Status WriteMetaText(storage::WriteTxn& txn, MetaKey key, std::string_view text);

}  // namespace escrow::vault
