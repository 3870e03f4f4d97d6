#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "storage/store.h"

namespace escrow::storage::testing {

// Rows the storage tests write, and one-read helpers over Store::Read, for every backend.

inline DeviceRow MakeDevice(std::string id, std::string owner = "alice",
                            std::string serial = "C02XK0ABCDEF") {
  DeviceRow row;
  row.id = std::move(id);
  row.serial = std::move(serial);
  row.name = "MacBook Pro";
  row.platform = Platform::kMacos;
  row.ownership = Ownership::kCorporate;
  row.owner = std::move(owner);
  row.encryption_enabled = true;
  row.last_checkin_ms = 1'700'000'000'000;
  row.created_ms = 1'700'000'000'000;
  row.updated_ms = 1'700'000'000'000;
  return row;
}

inline KeyVersionRow MakeKeyVersion(std::string device_id, std::uint32_t version,
                                    std::uint32_t master_key_version = 1) {
  KeyVersionRow row;
  row.device_id = std::move(device_id);
  row.version = version;
  row.kind = Platform::kMacos;
  row.owner = "alice";
  row.ownership = Ownership::kCorporate;
  row.master_key_version = master_key_version;
  row.iv = Bytes(12, static_cast<std::uint8_t>(version));
  row.ciphertext = Bytes(40, 0xC7);
  row.tag = Bytes(16, 0x7A);
  row.state = VersionState::kActive;
  row.stored_ms = 1'700'000'000'000 + version;
  row.stored_by = "mdm";
  return row;
}

inline AuditRow MakeAudit(std::uint64_t seq, std::string device_id = "dev-1") {
  AuditRow row;
  row.seq = seq;
  row.time_ms = 1'700'000'000'000 + static_cast<std::int64_t>(seq);
  row.actor = "helpdesk-1";
  row.role = "helpdesk";
  row.action = "retrieve";
  row.device_id = std::move(device_id);
  row.outcome = "ok";
  row.reason = "user locked out";
  row.detail = "{}";
  row.hash = Bytes(32, static_cast<std::uint8_t>(seq));
  row.audit_key_version = 1;
  return row;
}

// Runs one write that must succeed.
inline void MustWrite(Store& store, const std::function<Status(WriteTxn&)>& fn) {
  Status s = store.Write(fn);
  INFO(s.ToString());
  REQUIRE(s.ok());
}

// One read transaction each, for tests that check one thing at a time.
inline Result<std::optional<DeviceRow>> GetDevice(Store& store, std::string_view id) {
  return ReadValue(store, [&](ReadTxn& txn) { return txn.devices().Get(id); });
}
// Without `after` and `limit`: every device of the owner (or serial).
inline Result<std::vector<DeviceRow>> ListDevicesByOwner(
    Store& store, std::string_view owner, std::optional<std::string_view> after = std::nullopt,
    std::size_t limit = std::numeric_limits<std::size_t>::max()) {
  return ReadValue(store,
                   [&](ReadTxn& txn) { return txn.devices().ListByOwner(owner, after, limit); });
}
inline Result<std::vector<DeviceRow>> ListDevicesBySerial(
    Store& store, std::string_view serial, std::optional<std::string_view> after = std::nullopt,
    std::size_t limit = std::numeric_limits<std::size_t>::max()) {
  return ReadValue(store,
                   [&](ReadTxn& txn) { return txn.devices().ListBySerial(serial, after, limit); });
}
inline Result<std::vector<DeviceRow>> ListAllDevices(Store& store, std::size_t limit) {
  return ReadValue(store, [&](ReadTxn& txn) { return txn.devices().ListAll(limit); });
}
inline Result<std::optional<KeyVersionRow>> GetKeyVersion(Store& store, std::string_view device,
                                                          std::uint32_t version) {
  return ReadValue(store, [&](ReadTxn& txn) { return txn.versions().Get(device, version); });
}
inline Result<std::vector<KeyVersionRow>> ListKeyVersions(Store& store, std::string_view device) {
  return ReadValue(store, [&](ReadTxn& txn) { return txn.versions().List(device); });
}
inline Result<std::optional<KeyVersionRow>> CurrentKeyVersion(Store& store,
                                                              const DeviceRow& device) {
  return ReadValue(store, [&](ReadTxn& txn) { return txn.versions().Current(device); });
}
inline Result<std::uint32_t> LatestKeyVersionNumber(Store& store, std::string_view device) {
  return ReadValue(store, [&](ReadTxn& txn) { return txn.versions().LatestNumber(device); });
}
inline Result<std::vector<KeyVersionRow>> ListBurnedKeyVersions(Store& store,
                                                                std::string_view device) {
  return ReadValue(store, [&](ReadTxn& txn) { return txn.versions().ListBurned(device); });
}
inline Result<std::vector<KeyVersionRow>> ListSealedUnder(
    Store& store, std::uint32_t master_key_version, std::size_t limit,
    const std::optional<KeyVersionKey>& after) {
  return ReadValue(store, [&](ReadTxn& txn) {
    return txn.versions().ListSealedUnder(master_key_version, limit, after);
  });
}
inline Result<std::vector<std::pair<std::uint32_t, std::int64_t>>> CountByMasterKey(Store& store) {
  return ReadValue(store, [](ReadTxn& txn) { return txn.versions().CountByMasterKey(); });
}
inline Result<QuotaWindow> GetQuotaWindow(Store& store, std::string_view principal,
                                          std::int64_t since_ms) {
  return ReadValue(store,
                   [&](ReadTxn& txn) { return txn.limits().GetQuotaWindow(principal, since_ms); });
}
inline Result<std::optional<std::string>> GetMeta(Store& store, std::string_view key) {
  return ReadValue(store, [&](ReadTxn& txn) { return txn.meta().Get(key); });
}
inline Result<std::vector<AuditRow>> ListAudit(Store& store, std::uint64_t after, std::size_t limit,
                                               std::optional<std::string_view> device_id) {
  return ReadValue(store, [&](ReadTxn& txn) { return txn.audit().List(after, limit, device_id); });
}
inline Result<std::optional<AuditRow>> LastAudit(Store& store) {
  return ReadValue(store, [](ReadTxn& txn) { return txn.audit().Last(); });
}

}  // namespace escrow::storage::testing
