#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "storage/rows.h"

namespace escrow::storage {

// The devices table, read inside one transaction (txn.h gives the errors every method may
// also return). Not thread-safe: it belongs to its transaction.
class DeviceReader {
 public:
  virtual ~DeviceReader() = default;
  // nullopt if there is no such device (not an error).
  virtual Result<std::optional<DeviceRow>> Get(std::string_view id) = 0;
  // A page of the devices `owner` owns, or whose serial is `serial`: in id order, after the
  // device `after` if given (it need not exist), at most `limit`.
  virtual Result<std::vector<DeviceRow>> ListByOwner(std::string_view owner,
                                                     std::optional<std::string_view> after,
                                                     std::size_t limit) = 0;
  virtual Result<std::vector<DeviceRow>> ListBySerial(std::string_view serial,
                                                      std::optional<std::string_view> after,
                                                      std::size_t limit) = 0;
  // Devices with a key version (not destroyed) whose key ID is `key_id`, or starts with it if
  // `prefix`; with `owner`, only devices `owner` owns now, by versions recorded under `owner`
  // (none of a previous owner's). In id order, after the device `after` if given, at most
  // `limit`.
  virtual Result<std::vector<DeviceRow>> ListByKeyId(std::string_view key_id, bool prefix,
                                                     std::optional<std::string_view> owner,
                                                     std::optional<std::string_view> after,
                                                     std::size_t limit) = 0;
  // The first `limit` devices in id order.
  virtual Result<std::vector<DeviceRow>> ListAll(std::size_t limit) = 0;
  // Devices whose rotation has been pending since `since_ms` or earlier, in id order, after
  // the device `after` if given, at most `limit`.
  virtual Result<std::vector<DeviceRow>> ListRotationOverdue(std::int64_t since_ms,
                                                             std::optional<std::string_view> after,
                                                             std::size_t limit) = 0;
  // How many devices ListRotationOverdue would list in all.
  virtual Result<std::int64_t> CountRotationOverdue(std::int64_t since_ms) = 0;
  // Of those, the ones whose overdue rotation is not noted yet, oldest first, at most `limit`.
  virtual Result<std::vector<DeviceRow>> ListOverdueUnnoted(std::int64_t since_ms,
                                                            std::size_t limit) = 0;

 protected:
  // Copied or moved only as a concrete store, never sliced through this interface.
  DeviceReader() = default;
  DeviceReader(const DeviceReader&) = default;
  DeviceReader& operator=(const DeviceReader&) = default;
  DeviceReader(DeviceReader&&) = default;
  DeviceReader& operator=(DeviceReader&&) = default;
};

// The devices table inside a write transaction; its reads see the transaction's own writes.
class DeviceWriter : public DeviceReader {
 public:
  // Insert or replace by id (created_ms kept on replace). kInvalidArgument for an empty id or
  // an enum value that is not one of ours.
  virtual Status Upsert(const DeviceRow& row) = 0;
  // kNotFound if the device does not exist (both). updated_ms is left as it is. A rotation
  // that becomes pending is pending since `now_ms`; one pending already keeps its time and
  // note; clearing it clears both.
  virtual Status SetRotationPending(std::string_view device_id, bool pending,
                                    std::int64_t now_ms) = 0;
  virtual Status SetCheckin(std::string_view device_id, std::int64_t when_ms) = 0;
  // Marks the device's overdue rotation pending since `requested_ms` as noted. kFailedPrecondition
  // if it is not that rotation any more, or noted already (nothing changed).
  virtual Status NoteRotationOverdue(std::string_view device_id, std::int64_t requested_ms) = 0;
};

}  // namespace escrow::storage
