#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"
#include "storage/rows.h"

namespace escrow::storage {

// The recovery-key versions (sealed records), read inside one transaction (txn.h gives the
// errors every method may also return). Not thread-safe: it belongs to its transaction.
class KeyVersionReader {
 public:
  virtual ~KeyVersionReader() = default;
  // nullopt if absent.
  virtual Result<std::optional<KeyVersionRow>> Get(std::string_view device_id,
                                                   std::uint32_t version) = 0;
  // Oldest version first.
  virtual Result<std::vector<KeyVersionRow>> List(std::string_view device_id) = 0;
  // The device's current version: its newest active one stored for its present platform and
  // owner (none after the owner changed until a new key is stored), whatever ownership it was
  // stored with: a flip between corporate and personal leaves the owner their key, and policy
  // judges roles by the version's recorded ownership. The cost does not grow with the device's
  // superseded versions.
  virtual Result<std::optional<KeyVersionRow>> Current(const DeviceRow& device) = 0;
  // The highest version number the device has used (destroyed ones included), 0 if none.
  virtual Result<std::uint32_t> LatestNumber(std::string_view device_id) = 0;
  // The burned versions not destroyed, oldest first.
  virtual Result<std::vector<KeyVersionRow>> ListBurned(std::string_view device_id) = 0;
  // Up to `limit` rows sealed under `master_key_version`, in (device_id, version) order; with
  // `after`, only the rows that come after that one (a cursor: the last row of a page).
  virtual Result<std::vector<KeyVersionRow>> ListSealedUnder(
      std::uint32_t master_key_version, std::size_t limit,
      const std::optional<KeyVersionKey>& after) = 0;
  // Up to `limit` versions without a keyed fingerprint, in (device_id, version) order, after
  // `after` if given (`vaultctl upgrade` fingerprints them once).
  virtual Result<std::vector<KeyVersionRow>> ListUnfingerprinted(
      std::size_t limit, const std::optional<KeyVersionKey>& after) = 0;
  // Number of key versions per master-key version (those with none left out), ascending.
  virtual Result<std::vector<std::pair<std::uint32_t, std::int64_t>>> CountByMasterKey() = 0;

 protected:
  // Copied or moved only as a concrete store, never sliced through this interface.
  KeyVersionReader() = default;
  KeyVersionReader(const KeyVersionReader&) = default;
  KeyVersionReader& operator=(const KeyVersionReader&) = default;
  KeyVersionReader(KeyVersionReader&&) = default;
  KeyVersionReader& operator=(KeyVersionReader&&) = default;
};

// The key versions inside a write transaction; its reads see the transaction's own writes.
// Values that break the schema's checks (IV not 12 bytes, tag not 16, version 0, an enum
// value that is not one of ours) are kInvalidArgument.
class KeyVersionWriter : public KeyVersionReader {
 public:
  // kAlreadyExists if (device_id, version) exists; kFailedPrecondition if the device does not.
  virtual Status Insert(const KeyVersionRow& row) = 0;
  // kNotFound if the version does not exist (both).
  virtual Status SetState(std::string_view device_id, std::uint32_t version,
                          VersionState state) = 0;
  virtual Status SetBurned(std::string_view device_id, std::uint32_t version) = 0;
  // Every active version of the device becomes superseded / burned; no error if none is.
  virtual Status SupersedeActive(std::string_view device_id) = 0;
  virtual Status BurnActive(std::string_view device_id) = 0;
  // Sets a version's keyed fingerprint (32 bytes) and its key version. kNotFound if absent.
  virtual Status SetFingerprint(std::string_view device_id, std::uint32_t version,
                                const Bytes& fingerprint, std::uint32_t key_version) = 0;
  // Sets (or with nullopt clears) when a verify last matched the version. kNotFound if absent.
  virtual Status SetVerified(std::string_view device_id, std::uint32_t version,
                             std::optional<std::int64_t> verified_ms) = 0;
  // Replaces the sealed fields of one version (master-key rotation). kNotFound if absent
  // or if its master_key_version is not `expected_old_master_version`.
  virtual Status ReplaceSealed(std::string_view device_id, std::uint32_t version,
                               std::uint32_t expected_old_master_version,
                               std::uint32_t new_master_version, const Bytes& iv,
                               const Bytes& ciphertext, const Bytes& tag) = 0;
  // Destroys a superseded version (API.md, [policy] keep_versions): the ciphertext becomes
  // empty, IV and tag all zeros (the schema's sizes), master_key_version 0 (sealed under no
  // key: master-key rotation and its counts pass it by), state destroyed. The row stays, with
  // its fingerprint and burned mark, so that the key stays known. kNotFound if the version
  // does not exist or is not superseded (an active version is never destroyed).
  virtual Status Destroy(std::string_view device_id, std::uint32_t version) = 0;
};

}  // namespace escrow::storage
