#include "vault/meta.h"

#include <string>

#include "base/status.h"

namespace escrow::vault {
namespace {

Result<std::uint32_t> Required(MetaKey key, const std::optional<std::string>& text) {
  if (!text) {
    return Status::NotFound("no database meta " + std::string(MetaKeyName(key)));
  }
  return ParseMetaVersion(key, *text);
}

}  // namespace

std::string_view MetaKeyName(MetaKey key) {
  switch (key) {
    case MetaKey::kActiveMasterKeyVersion:
      return "active_master_key_version";
    case MetaKey::kAuditKeyVersion:
      return "audit_key_version";
    case MetaKey::kRotationTarget:
      return "rotation_target";
    case MetaKey::kLastBackup:
      return "last_backup";
    case MetaKey::kFingerprintKeyVersion:
      return "fingerprint_key_version";
    case MetaKey::kStateKeyVersion:
      return "state_key_version";
    case MetaKey::kEventsLagAlerted:
      return "events_lag_alerted";
  }
  ESCROW_CHECK(false);
  return {};
}

Result<std::uint32_t> ParseMetaVersion(MetaKey key, std::string_view text) {
  const auto bad = [&] {
    return Status::DataLoss("database meta " + std::string(MetaKeyName(key)) + " is malformed: \"" +
                            std::string(text) + "\"");
  };
  if (text.empty() || text.size() > 10 || text.front() == '0') return bad();
  std::uint64_t n = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return bad();
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (n > 0xffffffffULL) return bad();
  return static_cast<std::uint32_t>(n);
}

Result<std::uint32_t> ReadMetaVersion(storage::MetaReader& meta, MetaKey key) {
  ESCROW_ASSIGN_OR_RETURN(std::optional<std::string> text, meta.Get(MetaKeyName(key)));
  return Required(key, text);
}

Result<std::uint32_t> ReadMetaVersion(storage::Store& store, MetaKey key) {
  return storage::ReadValue(
      store, [key](storage::ReadTxn& txn) { return ReadMetaVersion(txn.meta(), key); });
}

Result<std::optional<std::uint32_t>> ReadOptionalMetaVersion(storage::MetaReader& meta,
                                                             MetaKey key) {
  ESCROW_ASSIGN_OR_RETURN(std::optional<std::string> text, meta.Get(MetaKeyName(key)));
  if (!text || text->empty()) return std::optional<std::uint32_t>();
  ESCROW_ASSIGN_OR_RETURN(std::uint32_t version, ParseMetaVersion(key, *text));
  return std::optional<std::uint32_t>(version);
}

Result<std::optional<std::uint32_t>> ReadOptionalMetaVersion(storage::Store& store, MetaKey key) {
  return storage::ReadValue(
      store, [key](storage::ReadTxn& txn) { return ReadOptionalMetaVersion(txn.meta(), key); });
}

Status WriteMetaVersion(storage::WriteTxn& txn, MetaKey key, std::uint32_t version) {
  return txn.meta().Set(MetaKeyName(key), std::to_string(version));
}

Status ClearMetaVersion(storage::WriteTxn& txn, MetaKey key) {
  return txn.meta().Set(MetaKeyName(key), "");
}

Result<std::optional<std::string>> ReadMetaText(storage::Store& store, MetaKey key) {
  return storage::ReadValue(
      store, [key](storage::ReadTxn& txn) { return txn.meta().Get(MetaKeyName(key)); });
}

Status WriteMetaText(storage::WriteTxn& txn, MetaKey key, std::string_view text) {
  return txn.meta().Set(MetaKeyName(key), text);
}

}  // namespace escrow::vault
