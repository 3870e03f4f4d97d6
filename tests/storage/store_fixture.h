#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <catch2/catch.hpp>
#include <sqlite3.h>

#include "storage/store.h"
#include "tests/support/temp_dir.h"

namespace escrow::storage::testing {

// A fresh vault database in its own temp dir.
struct StoreFixture {
  escrow::testing::TempDir dir;
  std::string path = (dir.path() / "vault.db").string();

  StoreOptions Options(bool create = true) const {
    StoreOptions options;
    options.path = path;
    options.create = create;
    options.busy_timeout_ms = 5000;
    options.read_connections = 3;
    return options;
  }

  std::unique_ptr<Store> Open(bool create = true) const {
    Result<std::unique_ptr<Store>> store = Store::Open(Options(create));
    INFO(store.status().ToString());
    REQUIRE(store.ok());
    return std::move(store).value();
  }
};

inline DeviceRow MakeDevice(std::string id, std::string owner = "alice",
                            std::string serial = "C02XK0ABCDEF") {
  DeviceRow row;
  row.id = std::move(id);
  row.serial = std::move(serial);
  row.name = "MacBook Pro";
  row.platform = "macos";
  row.ownership = "corporate";
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
  row.kind = "macos";
  row.owner = "alice";
  row.ownership = "corporate";
  row.master_key_version = master_key_version;
  row.iv = Bytes(12, static_cast<std::uint8_t>(version));
  row.ciphertext = Bytes(40, 0xC7);
  row.tag = Bytes(16, 0x7A);
  row.state = "active";
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

// Runs SQL on the file through a raw connection, as an operator with the sqlite3 CLI would.
inline int RawExec(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  if (rc == SQLITE_OK) rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr);
  sqlite3_close(db);
  return rc;
}

}  // namespace escrow::storage::testing
