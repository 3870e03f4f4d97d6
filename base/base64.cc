#include "base/base64.h"

#include <array>
#include <cstdint>

namespace escrow {
namespace {

// A hand-written table rather than EVP_DecodeBlock: that one skips leading and trailing
// whitespace, decodes padding as zero bytes and accepts non-zero leftover bits, so every
// check here would be needed anyway, and its output would have to be trimmed after.
constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::uint8_t kInvalid = 0xFF;

constexpr std::array<std::uint8_t, 256> MakeDecodeTable() {
  std::array<std::uint8_t, 256> table{};
  for (auto& v : table) v = kInvalid;
  for (std::uint8_t i = 0; i < 64; ++i) table[static_cast<unsigned char>(kAlphabet[i])] = i;
  return table;
}
constexpr std::array<std::uint8_t, 256> kDecode = MakeDecodeTable();

}  // namespace

std::string EncodeBase64(std::span<const std::uint8_t> bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t v = (std::uint32_t{bytes[i]} << 16) | (std::uint32_t{bytes[i + 1]} << 8) |
                            std::uint32_t{bytes[i + 2]};
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
    out.push_back(kAlphabet[v & 63]);
  }
  const std::size_t rest = bytes.size() - i;
  if (rest > 0) {
    std::uint32_t v = std::uint32_t{bytes[i]} << 16;
    if (rest == 2) v |= std::uint32_t{bytes[i + 1]} << 8;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(rest == 2 ? kAlphabet[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

Result<Bytes> DecodeBase64Strict(std::string_view text, std::size_t max_decoded_bytes) {
  if (text.size() % 4 != 0) return Status::InvalidArgument("not base64");
  // Up to two trailing '='; a third, or one anywhere else, fails below as a bad character.
  std::size_t padding = 0;
  while (padding < 2 && padding < text.size() && text[text.size() - 1 - padding] == '=') {
    ++padding;
  }
  const std::size_t decoded_size = text.size() / 4 * 3 - padding;
  if (decoded_size > max_decoded_bytes) return Status::InvalidArgument("too large");

  Bytes out;
  out.reserve(decoded_size);
  std::uint32_t acc = 0;
  std::size_t bits = 0;
  const std::string_view body = text.substr(0, text.size() - padding);
  for (const char c : body) {
    const std::uint8_t v = kDecode[static_cast<unsigned char>(c)];
    if (v == kInvalid) return Status::InvalidArgument("not base64");  // '=' inside too
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<std::uint8_t>((acc >> bits) & 0xFF));
      acc &= (1U << bits) - 1;
    }
  }
  // Leftover bits (2 or 4 before padding) must be zero, else several texts decode alike.
  if (acc != 0) return Status::InvalidArgument("not base64");
  return out;
}

}  // namespace escrow
