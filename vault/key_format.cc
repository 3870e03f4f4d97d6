#include "vault/key_format.h"

#include <cstdint>

namespace escrow::vault {
namespace {

Status Invalid(Platform platform) {
  return Status::InvalidArgument(RecoveryKeyFormatHint(platform), "invalid_recovery_key");
}

bool IsAlnumUpper(std::uint8_t c) { return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

Result<SecretBytes> NormalizeMacos(const SecretBytes& input) {
  auto in = input.RevealSecret();
  if (in.size() != 24 && in.size() != 29) return Invalid(Platform::kMacos);
  const bool dashed = in.size() == 29;
  SecretBytes out(29);
  auto o = out.mutable_span();
  std::size_t n = 0;  // characters of key copied
  for (std::size_t i = 0; i < in.size(); ++i) {
    std::uint8_t c = in[i];
    if (dashed && i % 5 == 4) {
      if (c != '-') return Invalid(Platform::kMacos);
      continue;
    }
    if (c >= 'a' && c <= 'z') c = static_cast<std::uint8_t>(c - 'a' + 'A');
    if (!IsAlnumUpper(c)) return Invalid(Platform::kMacos);
    const std::size_t pos = n + n / 4;  // room for the dashes
    o[pos] = c;
    ++n;
  }
  for (std::size_t g = 1; g < 6; ++g) o[g * 5 - 1] = '-';
  return out;
}

Result<SecretBytes> NormalizeWindows(const SecretBytes& input) {
  auto in = input.RevealSecret();
  if (in.size() != 8 * 6 + 7) return Invalid(Platform::kWindows);
  for (std::size_t g = 0; g < 8; ++g) {
    std::uint32_t value = 0;
    for (std::size_t k = 0; k < 6; ++k) {
      const std::uint8_t c = in[g * 7 + k];
      if (c < '0' || c > '9') return Invalid(Platform::kWindows);
      value = value * 10 + static_cast<std::uint32_t>(c - '0');
    }
    if (g < 7 && in[g * 7 + 6] != '-') return Invalid(Platform::kWindows);
    if (value % 11 != 0 || value >= 720896) return Invalid(Platform::kWindows);
  }
  return SecretBytes::CopyOf(in);
}

// Strict UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF) without C0/C1 controls
// or DEL.
bool IsCleanUtf8(std::span<const std::uint8_t> s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const std::uint8_t c = s[i];
    if (c < 0x80) {
      if (c < 0x20 || c == 0x7F) return false;
      ++i;
      continue;
    }
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
      return false;
    }
    if (i + len > s.size()) return false;
    for (std::size_t k = 1; k < len; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (s[i + k] & 0x3Fu);
    }
    const std::uint32_t min = len == 2 ? 0x80 : len == 3 ? 0x800 : 0x10000;
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    if (cp >= 0x80 && cp <= 0x9F) return false;  // C1 controls
    i += len;
  }
  return true;
}

Result<SecretBytes> NormalizeLinux(const SecretBytes& input) {
  auto in = input.RevealSecret();
  if (in.size() < 8 || in.size() > 512 || !IsCleanUtf8(in)) return Invalid(Platform::kLinux);
  return SecretBytes::CopyOf(in);
}

}  // namespace

const char* RecoveryKeyFormatHint(Platform platform) {
  switch (platform) {
    case Platform::kMacos:
      return "A FileVault recovery key is 24 letters and digits in six groups of four, like "
             "ABCD-EFGH-IJKL-MNOP-QRST-UVWX.";
    case Platform::kWindows:
      return "A BitLocker recovery password is 48 digits in eight groups of six joined by "
             "dashes; each group is a multiple of 11 below 720896.";
    case Platform::kLinux:
      return "A LUKS passphrase is 8 to 512 bytes of UTF-8 without control characters.";
  }
  return "Invalid recovery key.";
}

Result<SecretBytes> NormalizeRecoveryKey(Platform platform, const SecretBytes& input) {
  switch (platform) {
    case Platform::kMacos: return NormalizeMacos(input);
    case Platform::kWindows: return NormalizeWindows(input);
    case Platform::kLinux: return NormalizeLinux(input);
  }
  return Invalid(platform);
}

}  // namespace escrow::vault
