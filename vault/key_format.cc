#include "vault/key_format.h"

#include <cstdint>

#include "base/utf8.h"

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

Result<SecretBytes> NormalizeLinux(const SecretBytes& input) {
  auto in = input.RevealSecret();
  if (in.size() < 8 || in.size() > kMaxRecoveryKeyBytes || !IsCleanUtf8(in)) {
    return Invalid(Platform::kLinux);
  }
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
