#include "base/utf8.h"

#include <algorithm>
#include <array>

namespace escrow {

std::size_t CleanUtf8CharLength(std::span<const std::uint8_t> s, std::size_t i) {
  const std::uint8_t c = s[i];
  if (c < 0x80) return (c < 0x20 || c == 0x7F) ? 0 : 1;
  std::size_t len = 0;
  std::uint32_t cp = 0;
  if ((c & 0xE0) == 0xC0) {
    len = 2;
    cp = c & 0x1Fu;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3;
    cp = c & 0x0Fu;
  } else if ((c & 0xF8) == 0xF0) {
    len = 4;
    cp = c & 0x07u;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (std::size_t k = 1; k < len; ++k) {
    if ((s[i + k] & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (s[i + k] & 0x3Fu);
  }
  const std::uint32_t min = len == 2 ? 0x80 : len == 3 ? 0x800 : 0x10000;
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  if (cp <= 0x9F) return 0;  // C1 controls (U+0080 to U+009F)
  return len;
}

bool IsCleanUtf8(std::span<const std::uint8_t> s) {
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = CleanUtf8CharLength(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string EscapeText(std::string_view text, std::size_t max_bytes) {
  static constexpr std::string_view kCut = "...";
  static constexpr std::array<char, 16> kHex{'0', '1', '2', '3', '4', '5', '6', '7',
                                             '8', '9', 'a', 'b', 'c', 'd', 'e', 'f'};
  const auto s = std::span<const std::uint8_t>(
      reinterpret_cast<const std::uint8_t*>(text.data()), text.size());  // NOLINT: bytes
  std::string out;
  out.reserve(std::min(text.size(), max_bytes));
  std::size_t i = 0;
  std::size_t last_fit = 0;  // out's size when the text still fitted with room for kCut
  while (i < s.size()) {
    std::size_t n = CleanUtf8CharLength(s, i);
    std::string piece;
    if (n == 0) {
      piece = {'\\', 'x', kHex[s[i] >> 4], kHex[s[i] & 0xF]};
      n = 1;
    } else {
      piece.assign(text.substr(i, n));
    }
    if (out.size() + piece.size() > max_bytes) {
      if (max_bytes < kCut.size()) return out.substr(0, last_fit);
      out.resize(last_fit);
      out += kCut;
      return out;
    }
    out += piece;
    if (out.size() + kCut.size() <= max_bytes) last_fit = out.size();
    i += n;
  }
  return out;
}

}  // namespace escrow
