#pragma once

#include <cstdint>
#include <string_view>

#include "base/bytes.h"
#include "base/result.h"
#include "base/secret_bytes.h"
#include "vault/types.h"

namespace escrow::hsm {
class KeyService;
}

namespace escrow::vault {

// A version's keyed fingerprint (API.md, "Checking a key without releasing it"):
//   HMAC-SHA256(escrow-fingerprint-v<N>,
//               "escrow-fp" | u8 1 | u8 kind | u16be len | device_id | u16be len | key)
// with `key` normalised, computed in the HSM. Bound to the device, so equal keys on two
// devices never compare equal and a database reader cannot test a guess against another
// device's key. Comparisons of keys (unchanged, burned) use it and never decrypt.
inline constexpr std::size_t kFingerprintBytes = 32;

// The HMAC's input. It holds the key, so it lives in secure memory and is wiped.
// REQUIRES: device_id and key are shorter than 65536 bytes.
SecretBytes FingerprintInput(Platform kind, std::string_view device_id,
                             const SecretBytes& normalised_key);

// The fingerprint, computed in the HSM under escrow-fingerprint-v<key_version>. The HSM's
// errors as they are (kNotFound: the key is not on the token).
Result<Bytes> Fingerprint(hsm::KeyService& keys, std::uint32_t key_version, Platform kind,
                          std::string_view device_id, const SecretBytes& normalised_key);

}  // namespace escrow::vault
