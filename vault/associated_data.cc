#include "vault/associated_data.h"

#include "base/check.h"
#include "base/status.h"

namespace escrow::vault {

Bytes RecoveryKeyAad(Platform kind, std::string_view device_id, std::uint32_t key_version,
                     std::uint32_t master_key_version, Ownership ownership, std::string_view owner,
                     std::optional<std::string_view> key_id) {
  ESCROW_CHECK(device_id.size() < 65536 && owner.size() < 65536 &&
               (!key_id || key_id->size() < 65536));
  constexpr std::string_view kDomain = "escrow-rk";
  Bytes out;
  out.reserve(kDomain.size() + 1 + 1 + 2 + device_id.size() + 4 + 4 + 1 + 2 + owner.size() +
              (key_id ? 2 + key_id->size() : 0));
  Append(out, kDomain);
  AppendU8(out, key_id ? 2 : 1);  // format
  AppendU8(out, static_cast<std::uint8_t>(kind));
  AppendU16Be(out, static_cast<std::uint16_t>(device_id.size()));
  Append(out, device_id);
  AppendU32Be(out, key_version);
  AppendU32Be(out, master_key_version);
  AppendU8(out, static_cast<std::uint8_t>(ownership));
  AppendU16Be(out, static_cast<std::uint16_t>(owner.size()));
  Append(out, owner);
  if (key_id) {
    AppendU16Be(out, static_cast<std::uint16_t>(key_id->size()));
    Append(out, *key_id);
  }
  return out;
}

Result<Bytes> AadForRow(const storage::KeyVersionRow& row) {
  return AadForRow(row, row.master_key_version);
}

Result<Bytes> AadForRow(const storage::KeyVersionRow& row, std::uint32_t master_key_version) {
  const bool known_kind = ParsePlatform(PlatformName(row.kind)).has_value();
  const bool known_ownership = ParseOwnership(OwnershipName(row.ownership)).has_value();
  if (!known_kind || !known_ownership || row.device_id.size() >= 65536 ||
      row.owner.size() >= 65536 || (row.key_id && row.key_id->size() >= 65536)) {
    return Status::DataLoss("A stored record failed its integrity check.", "integrity_error");
  }
  std::optional<std::string_view> key_id;
  if (row.key_id) key_id = *row.key_id;
  return RecoveryKeyAad(row.kind, row.device_id, row.version, master_key_version, row.ownership,
                        row.owner, key_id);
}

}  // namespace escrow::vault
