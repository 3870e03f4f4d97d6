#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "base/bytes.h"

namespace escrow::auth {

// base64url without padding (RFC 7515 section 2), as JOSE uses it.
//
// Decoding is strict so that one token has exactly one spelling: '=' padding, characters
// outside [A-Za-z0-9_-], a length of 1 mod 4, and non-zero unused bits in the last
// character are all rejected (nullopt). Stateless and thread-safe.
std::optional<Bytes> Base64UrlDecode(std::string_view text);
// The same, decoding into a string (for JSON text). nullopt on any of the errors above.
std::optional<std::string> Base64UrlDecodeToString(std::string_view text);

// Unpadded base64url of `bytes`.
std::string Base64UrlEncode(std::span<const std::uint8_t> bytes);
std::string Base64UrlEncode(std::string_view bytes);

}  // namespace escrow::auth
