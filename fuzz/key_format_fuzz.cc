// Fuzzes NormalizeRecoveryKey for every platform. Byte 0 picks the platform, the rest is the
// submitted key. Checks, beyond the sanitizers: an accepted key is normalised as API.md says
// (macOS upper-case 6x4 dashed; Windows and Linux exactly as given) and normalising it again
// gives the same key.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "vault/key_format.h"

namespace {

using escrow::SecretBytes;
using escrow::vault::Platform;

void Require(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  constexpr Platform kPlatforms[] = {Platform::kMacos, Platform::kWindows, Platform::kLinux};
  const Platform platform = kPlatforms[data[0] % 3];
  const SecretBytes input = SecretBytes::CopyOf(std::span<const std::uint8_t>(data + 1, size - 1));
  escrow::Result<SecretBytes> out = escrow::vault::NormalizeRecoveryKey(platform, input);
  if (!out.ok()) {
    Require(out.status().reason() == "invalid_recovery_key");
    return 0;
  }
  auto key = out->RevealSecret();
  switch (platform) {
    case Platform::kMacos:
      Require(key.size() == 29);
      for (std::size_t i = 0; i < key.size(); ++i) {
        const std::uint8_t c = key[i];
        if (i % 5 == 4) {
          Require(c == '-');
        } else {
          Require((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'));
        }
      }
      break;
    case Platform::kWindows:
    case Platform::kLinux: {
      auto in = input.RevealSecret();
      Require(key.size() == in.size());
      for (std::size_t i = 0; i < key.size(); ++i) Require(key[i] == in[i]);
      break;
    }
  }
  escrow::Result<SecretBytes> again = escrow::vault::NormalizeRecoveryKey(platform, *out);
  Require(again.ok() && escrow::ConstantTimeEquals(*again, *out));
  return 0;
}
