#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "base/bytes.h"
#include "base/result.h"
#include "storage/rows.h"
#include "vault/types.h"

namespace escrow::vault {

// The one builder of a recovery key's associated data (DESIGN.md), used by every tool:
//   "escrow-rk" | u8 format=1 | u8 kind | u16be len | device_id | u32be key_version |
//   u32be master_key_version | u8 ownership | u16be len | owner
// Length prefixes keep any two rows from colliding; ownership and owner are those recorded
// with the version, so an edited row fails its tag and releases nothing.
// A version with a key ID (API.md, "Key IDs") is sealed under format 2: format 1's fields
// with u8 format=2, then
//   u16be len | key_id
// so that a key ID moved to another row, or added to or taken from one, fails the tag too.
// Versions without one keep format 1, byte for byte as before.
// REQUIRES: device_id, owner and key_id are shorter than 65536 bytes.
Bytes RecoveryKeyAad(Platform kind, std::string_view device_id, std::uint32_t key_version,
                     std::uint32_t master_key_version, Ownership ownership, std::string_view owner,
                     std::optional<std::string_view> key_id = std::nullopt);

// The associated data a stored key version was sealed under: its kind, device, version,
// master-key version, ownership and owner as recorded in the row. The one way from a row to
// a decrypt (the escrow service's reads, vaultctl's master-key rotation); format 2 if the
// row has a key ID. kDataLoss
// "integrity_error" if the row cannot have been written by us: an unknown kind or ownership,
// or a device id, owner or key ID of 65536 bytes or more.
Result<Bytes> AadForRow(const storage::KeyVersionRow& row);
// The same row's associated data under another master-key version (a rotation reseals it).
Result<Bytes> AadForRow(const storage::KeyVersionRow& row, std::uint32_t master_key_version);

}  // namespace escrow::vault
