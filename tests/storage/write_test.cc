#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <limits>

#include <catch2/catch.hpp>

#include "storage/sqlite_store.h"
#include "tests/storage/store_fixture.h"

namespace escrow::storage {
namespace {

using testing::GetDevice;
using testing::GetMeta;
using testing::MakeDevice;
using testing::MustWrite;
using testing::StoreFixture;

bool HasDevice(Store& store, std::string_view id) {
  auto row = GetDevice(store, id);
  REQUIRE(row.ok());
  return row->has_value();
}

TEST_CASE("A full disk fails the write with kUnavailable and the next write works",
          "[storage][write]") {
  StoreFixture f;
  auto opened = SqliteStore::Open(f.Options());
  REQUIRE(opened.ok());
  SqliteStore& store = **opened;
  MustWrite(store, [](WriteTxn& txn) { return txn.devices().Upsert(MakeDevice("dev-0")); });
  // max_page_count is per connection: the writer sees a full disk at its current size.
  auto pages = store.PragmaOnEveryConnection("page_count");
  REQUIRE(pages.ok());
  REQUIRE(store.RunOnWriterForTesting("PRAGMA max_page_count = " + pages->front()).ok());

  Status full = store.Write([](WriteTxn& txn) {
    for (int i = 0; i < 500; ++i) {
      DeviceRow row = MakeDevice("dev-full-" + std::to_string(i));
      row.name = std::string(500, 'n');
      ESCROW_RETURN_IF_ERROR(txn.devices().Upsert(row));
    }
    return Status::Ok();
  });
  CHECK(full.code() == Code::kUnavailable);
  CHECK_THAT(full.message(), Catch::Contains("upsert device") && Catch::Contains("full"));
  CHECK_FALSE(HasDevice(store, "dev-full-0"));

  // The condition is gone for a fresh connection (the limit was the connection's): the store
  // replaced the writer, so the next write works.
  MustWrite(store, [](WriteTxn& txn) { return txn.devices().Upsert(MakeDevice("dev-1")); });
  CHECK(HasDevice(store, "dev-1"));
}

TEST_CASE("A callback that swallows a full-disk error commits nothing", "[storage][write]") {
  StoreFixture f;
  auto opened = SqliteStore::Open(f.Options());
  REQUIRE(opened.ok());
  SqliteStore& store = **opened;
  auto pages = store.PragmaOnEveryConnection("page_count");
  REQUIRE(pages.ok());
  REQUIRE(store.RunOnWriterForTesting("PRAGMA max_page_count = " + pages->front()).ok());
  Status s = store.Write([](WriteTxn& txn) {
    for (int i = 0; i < 500; ++i) {
      DeviceRow row = MakeDevice("dev-" + std::to_string(i));
      row.name = std::string(500, 'n');
      if (!txn.devices().Upsert(row).ok()) break;  // ignored on purpose
    }
    // Any later statement must not run outside the (rolled back) transaction.
    if (txn.meta().Set("after", "x").ok()) return Status::Internal("poisoned txn accepted a write");
    return Status::Ok();
  });
  CHECK(s.code() == Code::kUnavailable);
  CHECK_FALSE(GetMeta(store, "after")->has_value());
  CHECK_FALSE(HasDevice(store, "dev-0"));
}

TEST_CASE("A read-only database file fails writes with kUnavailable until writable again",
          "[storage][write]") {
  if (::geteuid() == 0) {
    WARN("running as root: chmod does not stop root's writes; read-only case skipped");
    return;
  }
  StoreFixture f;
  {
    auto store = f.Open();
    MustWrite(*store, [](WriteTxn& txn) { return txn.devices().Upsert(MakeDevice("dev-0")); });
  }
  REQUIRE(::chmod(f.path.c_str(), 0444) == 0);
  auto store = f.Open(/*create=*/false);  // reads still work
  CHECK(HasDevice(*store, "dev-0"));
  Status s = store->Write([](WriteTxn& txn) { return txn.devices().Upsert(MakeDevice("dev-1")); });
  CHECK(s.code() == Code::kUnavailable);
  // SQLite made the -wal and -shm files read-only like the database: the condition clears
  // when all three are writable again, as `chmod 0600 vault.db*` would make them.
  for (const char* suffix : {"", "-wal", "-shm"}) {
    const std::string file = f.path + suffix;
    if (std::filesystem::exists(file)) REQUIRE(::chmod(file.c_str(), 0600) == 0);
  }
  MustWrite(*store, [](WriteTxn& txn) { return txn.devices().Upsert(MakeDevice("dev-1")); });
  CHECK(HasDevice(*store, "dev-1"));
}

}  // namespace
}  // namespace escrow::storage
