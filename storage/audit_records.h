#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "storage/rows.h"

namespace escrow::storage {

// The audit actions whose successful records change a device's state record (vault/policy.cc
// names them; tests/vault checks the two agree). Frozen into migration 6's partial index: a
// new one needs a migration.
inline constexpr std::array<std::string_view, 7> kStateChangingActions{
    "device.enrol", "device.change_owner", "key.store",           "key.retrieve",
    "key.retrieve_older", "key.rotate",    "key.rotation_command"};

// The audit actions whose successful records release a key (API.md's accesses). Frozen into
// migration 12's partial index: a new one needs a migration.
inline constexpr std::array<std::string_view, 3> kReleaseActions{
    "key.retrieve", "key.retrieve_older", "key.rotation_command"};

// The audit records (the chain itself is vault/'s), read inside one transaction (txn.h gives
// the errors every method may also return). Not thread-safe: it belongs to its transaction.
class AuditReader {
 public:
  virtual ~AuditReader() = default;
  // Records with seq > after, optionally only those of one device, oldest first.
  virtual Result<std::vector<AuditRow>> List(std::uint64_t after, std::size_t limit,
                                             std::optional<std::string_view> device_id) = 0;
  // The newest record. Inside a write transaction the write lock is held: no other process
  // can append before the transaction ends.
  virtual Result<std::optional<AuditRow>> Last() = 0;
  // The record with this sequence number; nullopt if there is none.
  virtual Result<std::optional<AuditRow>> Get(std::uint64_t seq) = 0;
  // The sequence number of the newest record that changed the device's state: outcome "ok"
  // and one of kStateChangingActions, naming the device. nullopt if none. Served by a partial
  // index (migration 6): the cost does not grow with the device's other records.
  virtual Result<std::optional<std::uint64_t>> NewestStateChange(std::string_view device_id) = 0;
  // Up to `limit` of the device's releases (outcome "ok", one of kReleaseActions), newest
  // first; with `before`, only those with seq < before. Served by a partial index (migration
  // 12): the cost does not grow with the device's other records.
  virtual Result<std::vector<AuditRow>> ListReleases(std::string_view device_id,
                                                     std::optional<std::uint64_t> before,
                                                     std::size_t limit) = 0;

 protected:
  // Copied or moved only as a concrete store, never sliced through this interface.
  AuditReader() = default;
  AuditReader(const AuditReader&) = default;
  AuditReader& operator=(const AuditReader&) = default;
  AuditReader(AuditReader&&) = default;
  AuditReader& operator=(AuditReader&&) = default;
};

// The audit records inside a write transaction. Append-only.
class AuditWriter : public AuditReader {
 public:
  // kAlreadyExists if seq exists; kInvalidArgument unless seq is the last seq + 1 (the
  // sequence stays gap-free), or if the hash is not 32 bytes or the MAC not 16 to 64.
  virtual Status Append(const AuditRow& row) = 0;
};

}  // namespace escrow::storage
