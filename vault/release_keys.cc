#include "vault/release_keys.h"

#include <string>

#include "hsm/key_service.h"
#include "storage/store.h"
#include "vault/meta.h"

namespace escrow::vault {
namespace {

Result<std::uint32_t> FindOne(storage::Store& store, hsm::KeyService& keys, MetaKey key,
                              hsm::KeyRole role, const char* label) {
  Result<std::uint32_t> version = ReadMetaVersion(store, key);
  if (!version.ok()) {
    if (version.status().code() != Code::kNotFound) return version.status();
    return Status::FailedPrecondition(std::string("the database names no ") + label +
                                      " key (a vault of the first release, not yet upgraded)");
  }
  Result<hsm::KeyInfo> found = keys.FindKey(role, *version);
  if (!found.ok()) {
    if (found.status().code() != Code::kNotFound) return found.status();
    return Status::FailedPrecondition(std::string("hsm: the ") + label + " key v" +
                                      std::to_string(*version) + " is not on the token");
  }
  return version;
}

}  // namespace

Result<ReleaseKeys> FindReleaseKeys(storage::Store& store, hsm::KeyService& keys) {
  ReleaseKeys out;
  ESCROW_ASSIGN_OR_RETURN(out.fingerprint, FindOne(store, keys, MetaKey::kFingerprintKeyVersion,
                                                   hsm::KeyRole::kFingerprint, "fingerprint"));
  ESCROW_ASSIGN_OR_RETURN(
      out.state, FindOne(store, keys, MetaKey::kStateKeyVersion, hsm::KeyRole::kState, "state"));
  return out;
}

}  // namespace escrow::vault
