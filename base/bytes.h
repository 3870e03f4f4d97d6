#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace escrow {

using Bytes = std::vector<std::uint8_t>;

std::string HexEncode(std::span<const std::uint8_t> bytes);  // lowercase
std::optional<Bytes> HexDecode(std::string_view hex);
std::span<const std::uint8_t> AsBytes(std::string_view s);
// Equal length and bytes, in time that depends only on the length (MACs, fingerprints).
bool ConstantTimeEquals(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b);

// Big-endian appenders for the length-prefixed encodings of DESIGN.md.
void AppendU8(Bytes& out, std::uint8_t v);
void AppendU16Be(Bytes& out, std::uint16_t v);
void AppendU32Be(Bytes& out, std::uint32_t v);
void AppendU64Be(Bytes& out, std::uint64_t v);
void Append(Bytes& out, std::span<const std::uint8_t> bytes);
void Append(Bytes& out, std::string_view s);

}  // namespace escrow
