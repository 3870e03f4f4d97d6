#pragma once

#include <memory>
#include <string>
#include <tuple>

#include <catch2/catch.hpp>

#include "storage/store.h"
#include "tests/fakes/fake_store.h"
#include "tests/storage/store_test_rows.h"
#include "tests/support/postgres_server.h"
#include "tests/support/temp_dir.h"

namespace escrow::storage::testing {

// One factory per backend: the conformance cases are written once against Store and run on
// each (TEMPLATE_LIST_TEST_CASE over Backends), as Vault's ExerciseBackend is. A backend is
// default-constructible, owns whatever its store needs (a temp dir, a server), and opens
// fresh, empty stores.

// The in-memory fake (tests/fakes/fake_store.h).
struct FakeBackend {
  std::unique_ptr<Store> Open() { return std::make_unique<escrow::testing::FakeStore>(); }
};

// SQLite in a temp dir: each Open is a new file.
struct SqliteBackend {
  escrow::testing::TempDir dir;
  int opened = 0;

  std::unique_ptr<Store> Open() {
    StoreOptions options;
    options.path = (dir.path() / ("vault-" + std::to_string(++opened) + ".db")).string();
    options.create = true;
    options.read_connections = 3;
    Result<std::unique_ptr<Store>> store = Store::Open(options);
    INFO(store.status().ToString());
    REQUIRE(store.ok());
    return std::move(store).value();
  }
};

// PostgreSQL 15 (tests/support/postgres_server.h): each Open is a new database on the test
// run's server (left there: the server and its directory go at the end of the run).
struct PostgresBackend {
  std::unique_ptr<Store> Open() {
    escrow::testing::PostgresServer& server = escrow::testing::PostgresServer::Shared();
    Result<std::string> name = server.CreateDatabase();
    INFO(name.status().ToString());
    REQUIRE(name.ok());
    StoreOptions options;
    options.url = server.Url(*name);
    options.create = true;
    options.read_connections = 3;
    Result<std::unique_ptr<Store>> store = Store::Open(options);
    INFO(store.status().ToString());
    REQUIRE(store.ok());
    return std::move(store).value();
  }
};

using Backends = std::tuple<FakeBackend, SqliteBackend, PostgresBackend>;

// A backend and one fresh store on it: the shape most cases start from.
template <class Backend>
struct BackendStore {
  Backend backend;
  std::unique_ptr<Store> owned_store = backend.Open();
};

}  // namespace escrow::storage::testing
