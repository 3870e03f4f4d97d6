#pragma once

#include <cstdint>

#include "base/result.h"

namespace escrow::hsm {
class KeyService;
}
namespace escrow::storage {
class Store;
}

namespace escrow::vault {

// The versions of the keys the second release adds (API.md, "Vault keys and upgrades"): the
// fingerprint key and the state key. Their meta rows are written by `init` and by
// `vaultctl upgrade` once every version is fingerprinted and every device has a state record,
// so a vault whose rows are there is ready for this release.
struct ReleaseKeys {
  std::uint32_t fingerprint = 0;
  std::uint32_t state = 0;
};

// Reads both versions and finds both keys on the token. kFailedPrecondition naming what is
// missing (a vault of the first release, or a key gone from the token); kDataLoss for a
// malformed row; the HSM's kUnavailable as it is.
Result<ReleaseKeys> FindReleaseKeys(storage::Store& store, hsm::KeyService& keys);

}  // namespace escrow::vault
