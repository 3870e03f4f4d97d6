#include "vault/key_id.h"

#include <optional>

namespace escrow::vault {
namespace {

bool IsHex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

char Upper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }

// A GUID of 8-4-4-4-12 hex digits, with or without braces (both or neither), in upper case
// without braces; nullopt if `raw` is not one.
std::optional<std::string> NormalGuid(std::string_view raw) {
  if (raw.size() == 38 && raw.front() == '{' && raw.back() == '}') {
    raw = raw.substr(1, 36);
  }
  if (raw.size() != 36) return std::nullopt;
  std::string out;
  out.reserve(36);
  for (std::size_t i = 0; i < raw.size(); ++i) {
    const bool dash_here = i == 8 || i == 13 || i == 18 || i == 23;
    const char c = raw[i];
    if (dash_here ? c != '-' : !IsHex(c)) return std::nullopt;
    out.push_back(Upper(c));
  }
  return out;
}

bool IsFreeFormKeyId(std::string_view s) {
  if (s.empty() || s.size() > kMaxKeyIdBytes) return false;
  for (char c : s) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == ':' || c == '-';
    if (!ok) return false;
  }
  return true;
}

Status Invalid(std::string message) {
  return Status::InvalidArgument(std::move(message), "invalid_request");
}

}  // namespace

Result<std::string> NormalizeKeyId(Platform platform, std::string_view raw) {
  if (platform == Platform::kWindows) {
    std::optional<std::string> guid = NormalGuid(raw);
    if (!guid) {
      return Invalid(
          "key_id of a windows device must be the BitLocker protector ID: a GUID of "
          "8-4-4-4-12 hex digits, with or without braces.");
    }
    return *guid;
  }
  if (!IsFreeFormKeyId(raw)) {
    return Invalid("key_id must be 1 to 64 characters of A-Z, a-z, 0-9, '.', '_', ':' and '-'.");
  }
  return std::string(raw);
}

Result<KeyIdSearch> ParseKeyIdSearch(std::string_view raw) {
  if (std::optional<std::string> guid = NormalGuid(raw)) return KeyIdSearch{*guid, false};
  if (raw.size() == 8) {
    bool hex = true;
    for (char c : raw) hex = hex && IsHex(c);
    if (hex) {
      std::string prefix(raw);
      for (char& c : prefix) c = Upper(c);
      return KeyIdSearch{std::move(prefix), true};
    }
  }
  if (!IsFreeFormKeyId(raw)) {
    return Invalid("key_id must be a key ID, or the first 8 hex digits of a BitLocker one.");
  }
  return KeyIdSearch{std::string(raw), false};
}

}  // namespace escrow::vault
