#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <catch2/catch.hpp>
#include <sqlite3.h>

#include "storage/store.h"
#include "tests/storage/store_test_rows.h"
#include "tests/support/temp_dir.h"

namespace escrow::storage::testing {

// A fresh SQLite vault database in its own temp dir, for the tests of SQLite itself (the
// conformance suite runs every backend through conformance/backends.h).
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

// Runs SQL on the file through a raw connection, as an operator with the sqlite3 CLI would.
inline int RawExec(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  if (rc == SQLITE_OK) rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr);
  sqlite3_close(db);
  return rc;
}

}  // namespace escrow::storage::testing
