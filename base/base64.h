#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

#include "base/bytes.h"
#include "base/result.h"

namespace escrow {

// Standard base64 (RFC 4648 section 4) with '=' padding, as API.md's "der_base64" and
// "cms" fields carry it.
std::string EncodeBase64(std::span<const std::uint8_t> bytes);

// Decodes canonical padded base64: length a multiple of 4, only the RFC 4648 alphabet (no
// whitespace, no line breaks, no base64url), '=' only as the last one or two characters, and
// zero leftover bits, so each byte string has exactly one accepted text. A text that would
// decode to more than `max_decoded_bytes` is refused before anything is decoded.
// kInvalidArgument ("not base64", "too large"); the message never echoes the input.
Result<Bytes> DecodeBase64Strict(std::string_view text, std::size_t max_decoded_bytes);

}  // namespace escrow
