#pragma once

#include <string>
#include <string_view>

#include "base/result.h"
#include "vault/types.h"

namespace escrow::vault {

// A recovery key's own ID (API.md, "Key IDs (BitLocker) and lookup"). Not secret: it names a
// key, the way a BitLocker recovery screen shows its protector ID, and reveals nothing of it.

// The most characters a key ID has once normalised.
inline constexpr std::size_t kMaxKeyIdBytes = 64;

// The key ID a store gives, as stored: for `windows`, a GUID of 8-4-4-4-12 hex digits, with or
// without braces, in any case, becomes upper case without braces; for other platforms, 1 to 64
// characters of [A-Za-z0-9._:-], kept as they are. Anything else is kInvalidArgument
// "invalid_request".
Result<std::string> NormalizeKeyId(Platform platform, std::string_view raw);

// What GET /v1/devices?key_id= looks for: a GUID (braces and case as for a store) is one
// ID, upper case; exactly 8 hex digits are the start of one (as the BitLocker recovery screen
// shows it), upper case; any other valid key ID is one ID as given. Else kInvalidArgument
// "invalid_request".
struct KeyIdSearch {
  std::string key_id;
  bool prefix = false;
};
Result<KeyIdSearch> ParseKeyIdSearch(std::string_view raw);

}  // namespace escrow::vault
