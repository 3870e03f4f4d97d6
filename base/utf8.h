#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace escrow {

// The length (1 to 4) of the clean UTF-8 character that starts at `s[i]`, or 0 if none does.
// Clean: strict UTF-8 (no overlong forms, no surrogates, nothing above U+10FFFF) and no C0 or
// C1 control character or DEL.
std::size_t CleanUtf8CharLength(std::span<const std::uint8_t> s, std::size_t i);

// True if every byte of `s` belongs to a clean UTF-8 character. Reads secrets in place.
bool IsCleanUtf8(std::span<const std::uint8_t> s);

// `s` as clean UTF-8 of at most `max_bytes` bytes, for logs and the audit trail: every byte
// that is not part of a clean character becomes "\xNN", and a text that does not fit is cut
// at a character boundary and ends in "...". Clean text (JSON included) comes out unchanged.
std::string EscapeText(std::string_view s, std::size_t max_bytes);

}  // namespace escrow
