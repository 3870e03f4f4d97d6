#pragma once

#include "base/result.h"
#include "base/secret_bytes.h"
#include "vault/types.h"

namespace escrow::vault {

// No key of any format is longer (LUKS passphrases; the others are shorter). A submitted
// field longer than this is refused before it is copied anywhere.
inline constexpr std::size_t kMaxRecoveryKeyBytes = 512;

// Validates a submitted recovery key for a device's platform and returns it normalised
// (API.md "Recovery key formats"), in a fresh SecretBytes:
// - macos: 24 of [A-Z0-9] in either case, with or without dashes -> upper case, 6x4 dashed;
// - windows: 48 digits in 8 groups of 6 joined by '-', each group a multiple of 11 < 720896;
// - linux: 8 to 512 bytes of UTF-8 without control characters, stored exactly.
// kInvalidArgument with reason invalid_recovery_key and a message saying what a valid key of
// that kind looks like. The message never echoes the input.
Result<SecretBytes> NormalizeRecoveryKey(Platform platform, const SecretBytes& input);

// The message API.md asks for: what a valid key of this kind looks like.
const char* RecoveryKeyFormatHint(Platform platform);

}  // namespace escrow::vault
