#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "base/result.h"
#include "storage/store.h"

namespace escrow::vault {

// The meta rows that hold a key version. One parser for all of them, so vaultd, vaultctl and
// the escrow service agree on what a stored version may be.
enum class MetaKey {
  kActiveMasterKeyVersion,  // "active_master_key_version": the key new records are sealed under
  kAuditKeyVersion,         // "audit_key_version": the key the audit chain is MACed with
  kRotationTarget,          // "rotation_target": a master-key rotation in progress; "" = none
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

}  // namespace escrow::vault
