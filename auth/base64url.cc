#include "auth/base64url.h"

#include <array>

namespace escrow::auth {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr std::uint8_t kInvalid = 0xFF;

constexpr std::array<std::uint8_t, 256> MakeDecodeTable() {
  std::array<std::uint8_t, 256> table{};
  for (auto& v : table) v = kInvalid;
  for (std::uint8_t i = 0; i < 64; ++i) table[static_cast<unsigned char>(kAlphabet[i])] = i;
  return table;
}
constexpr std::array<std::uint8_t, 256> kDecode = MakeDecodeTable();

// Appends the decoded bytes of `text` to `out` (any container of 1-byte values).
template <class Out>
bool DecodeInto(std::string_view text, Out& out) {
  const std::size_t rem = text.size() % 4;
  if (rem == 1) return false;  // 6 bits cannot make a byte
  out.reserve(text.size() / 4 * 3 + (rem == 0 ? 0 : rem - 1));
  std::uint32_t acc = 0;
  std::size_t bits = 0;
  for (char c : text) {
    const std::uint8_t v = kDecode[static_cast<unsigned char>(c)];
    if (v == kInvalid) return false;  // includes '=' padding and the '+' '/' of base64
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<typename Out::value_type>((acc >> bits) & 0xFF));
      acc &= (1U << bits) - 1;
    }
  }
  // Leftover bits (2 or 4) must be zero, else several texts would decode to the same bytes.
  return acc == 0;
}

}  // namespace

std::optional<Bytes> Base64UrlDecode(std::string_view text) {
  Bytes out;
  if (!DecodeInto(text, out)) return std::nullopt;
  return out;
}

std::optional<std::string> Base64UrlDecodeToString(std::string_view text) {
  std::string out;
  if (!DecodeInto(text, out)) return std::nullopt;
  return out;
}

std::string Base64UrlEncode(std::span<const std::uint8_t> bytes) {
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t n =
        (std::uint32_t{bytes[i]} << 16) | (std::uint32_t{bytes[i + 1]} << 8) | bytes[i + 2];
    out.push_back(kAlphabet[(n >> 18) & 63]);
    out.push_back(kAlphabet[(n >> 12) & 63]);
    out.push_back(kAlphabet[(n >> 6) & 63]);
    out.push_back(kAlphabet[n & 63]);
  }
  const std::size_t rem = bytes.size() - i;
  if (rem == 1) {
    const std::uint32_t n = std::uint32_t{bytes[i]} << 16;
    out.push_back(kAlphabet[(n >> 18) & 63]);
    out.push_back(kAlphabet[(n >> 12) & 63]);
  } else if (rem == 2) {
    const std::uint32_t n = (std::uint32_t{bytes[i]} << 16) | (std::uint32_t{bytes[i + 1]} << 8);
    out.push_back(kAlphabet[(n >> 18) & 63]);
    out.push_back(kAlphabet[(n >> 12) & 63]);
    out.push_back(kAlphabet[(n >> 6) & 63]);
  }
  return out;
}

std::string Base64UrlEncode(std::string_view bytes) { return Base64UrlEncode(AsBytes(bytes)); }

}  // namespace escrow::auth
