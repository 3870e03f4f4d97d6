#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "storage/rows.h"

namespace escrow::storage {

// The per-device state records (DESIGN.md, "Authenticated state"): what a database writer
// must not change unseen. storage/ keeps them as bytes; vault/ computes and checks their MAC.
// Read inside one transaction (txn.h gives the errors every method may also return). Not
// thread-safe: it belongs to its transaction.
class DeviceStateReader {
 public:
  virtual ~DeviceStateReader() = default;
  // nullopt if the device has no state record.
  virtual Result<std::optional<DeviceStateRow>> Get(std::string_view device_id) = 0;
  // Up to `limit` records in device_id order, after `after` if given (a cursor).
  virtual Result<std::vector<DeviceStateRow>> List(std::size_t limit,
                                                   std::optional<std::string_view> after) = 0;

 protected:
  // Copied or moved only as a concrete store, never sliced through this interface.
  DeviceStateReader() = default;
  DeviceStateReader(const DeviceStateReader&) = default;
  DeviceStateReader& operator=(const DeviceStateReader&) = default;
  DeviceStateReader(DeviceStateReader&&) = default;
  DeviceStateReader& operator=(DeviceStateReader&&) = default;
};

// The state records inside a write transaction; its reads see the transaction's own writes.
class DeviceStateWriter : public DeviceStateReader {
 public:
  // Insert or replace. kFailedPrecondition if the device does not exist; kInvalidArgument if
  // a size breaks the schema (burned not a multiple of 32 bytes, hash or MAC not 32).
  virtual Status Put(const DeviceStateRow& row) = 0;
};

}  // namespace escrow::storage
