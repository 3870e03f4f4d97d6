#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include <catch2/catch.hpp>

#include "storage/sqlite_store.h"
#include "tests/storage/store_fixture.h"

namespace escrow::storage {
namespace {

using testing::MakeAudit;
using testing::MakeDevice;
using testing::MakeKeyVersion;
using testing::MustWrite;
using testing::StoreFixture;

bool HasDevice(Store& store, std::string_view id) {
  auto row = store.GetDevice(id);
  REQUIRE(row.ok());
  return row->has_value();
}

TEST_CASE("A failing Write callback rolls back everything", "[storage][write]") {
  StoreFixture f;
  auto store = f.Open();
  Status s = store->Write([](WriteTxn& txn) {
    ESCROW_RETURN_IF_ERROR(txn.UpsertDevice(MakeDevice("dev-1")));
    ESCROW_RETURN_IF_ERROR(txn.InsertKeyVersion(MakeKeyVersion("dev-1", 1)));
    ESCROW_RETURN_IF_ERROR(txn.AppendAudit(MakeAudit(1)));
    ESCROW_RETURN_IF_ERROR(txn.SetMeta("k", "v"));
    ESCROW_RETURN_IF_ERROR(txn.IncrementQuota("helpdesk-1", "2024-01-01").status());
    return Status::PermissionDenied("policy said no", "forbidden");
  });
  CHECK(s.code() == Code::kPermissionDenied);
  CHECK(s.reason() == "forbidden");
  CHECK_FALSE(HasDevice(*store, "dev-1"));
  CHECK_FALSE(store->GetKeyVersion("dev-1", 1)->has_value());
  CHECK_FALSE(store->LastAudit()->has_value());
  CHECK_FALSE(store->GetMeta("k")->has_value());
  CHECK(*store->GetQuota("helpdesk-1", "2024-01-01") == 0);
  // The writer is usable afterwards.
  MustWrite(*store, [](WriteTxn& txn) { return txn.UpsertDevice(MakeDevice("dev-2")); });
  CHECK(HasDevice(*store, "dev-2"));
}

TEST_CASE("A callback that ignores a row error still commits its other work", "[storage][write]") {
  StoreFixture f;
  auto store = f.Open();
  MustWrite(*store, [](WriteTxn& txn) { return txn.UpsertDevice(MakeDevice("dev-1")); });
  MustWrite(*store, [](WriteTxn& txn) {
    Status missing = txn.SetCheckin("nope", 1);
    if (missing.code() != Code::kNotFound) return missing;
    return txn.SetCheckin("dev-1", 99);
  });
  CHECK(store->GetDevice("dev-1")->value().last_checkin_ms == std::optional<std::int64_t>(99));
}

TEST_CASE("Isolated rolls back only its own part", "[storage][write]") {
  StoreFixture f;
  auto store = f.Open();
  MustWrite(*store, [](WriteTxn& txn) {
    ESCROW_RETURN_IF_ERROR(txn.UpsertDevice(MakeDevice("before")));
    Status inner = txn.Isolated([](WriteTxn& t) {
      ESCROW_RETURN_IF_ERROR(t.UpsertDevice(MakeDevice("inside-failed")));
      return Status::NotFound("no such key", "recovery_key_not_found");
    });
    if (inner.code() != Code::kNotFound || inner.reason() != "recovery_key_not_found") {
      return Status::Internal("unexpected " + inner.ToString());
    }
    Status middle = txn.Isolated([](WriteTxn& t) {
      ESCROW_RETURN_IF_ERROR(t.UpsertDevice(MakeDevice("inside-ok")));
      // Nested: the inner failure leaves the middle level's work.
      Status nested = t.Isolated([](WriteTxn& n) {
        ESCROW_RETURN_IF_ERROR(n.UpsertDevice(MakeDevice("nested-failed")));
        return Status::Unavailable("hsm gone");
      });
      return nested.code() == Code::kUnavailable ? Status::Ok() : nested;
    });
    ESCROW_RETURN_IF_ERROR(middle);
    return txn.UpsertDevice(MakeDevice("after"));
  });
  CHECK(HasDevice(*store, "before"));
  CHECK(HasDevice(*store, "inside-ok"));
  CHECK(HasDevice(*store, "after"));
  CHECK_FALSE(HasDevice(*store, "inside-failed"));
  CHECK_FALSE(HasDevice(*store, "nested-failed"));

  SECTION("and the whole Write still rolls back its successful Isolated parts") {
    Status s = store->Write([](WriteTxn& txn) {
      Status inside =
          txn.Isolated([](WriteTxn& t) { return t.UpsertDevice(MakeDevice("kept-inside")); });
      return inside.ok() ? Status::Internal("abort") : inside;
    });
    CHECK(s.code() == Code::kInternal);
    CHECK_FALSE(HasDevice(*store, "kept-inside"));
  }
}

TEST_CASE("Store reads and writes meta values", "[storage][write]") {
  StoreFixture f;
  auto store = f.Open();
  CHECK_FALSE(store->GetMeta("active_master_key_version")->has_value());
  MustWrite(*store, [](WriteTxn& txn) {
    ESCROW_RETURN_IF_ERROR(txn.SetMeta("active_master_key_version", "1"));
    return txn.SetMeta("rotation_state", "");
  });
  MustWrite(*store, [](WriteTxn& txn) { return txn.SetMeta("active_master_key_version", "2"); });
  CHECK(*store->GetMeta("active_master_key_version") == std::optional<std::string>("2"));
  CHECK(*store->GetMeta("rotation_state") == std::optional<std::string>(""));
}

TEST_CASE("Store counts quota per principal and day", "[storage][write]") {
  StoreFixture f;
  auto store = f.Open();
  std::vector<std::int64_t> counts;
  for (int i = 0; i < 3; ++i) {
    MustWrite(*store, [&](WriteTxn& txn) -> Status {
      ESCROW_ASSIGN_OR_RETURN(std::int64_t n, txn.IncrementQuota("hd-1", "2024-05-01"));
      counts.push_back(n);
      return Status::Ok();
    });
  }
  MustWrite(*store,
            [](WriteTxn& txn) { return txn.IncrementQuota("hd-1", "2024-05-02").status(); });
  CHECK(counts == std::vector<std::int64_t>{1, 2, 3});
  CHECK(*store->GetQuota("hd-1", "2024-05-01") == 3);
  CHECK(*store->GetQuota("hd-1", "2024-05-02") == 1);
  CHECK(*store->GetQuota("hd-2", "2024-05-01") == 0);
}

TEST_CASE("Write called inside a Write callback fails instead of deadlocking", "[storage][write]") {
  StoreFixture f;
  auto store = f.Open();
  Status inner;
  MustWrite(*store, [&](WriteTxn&) {
    inner = store->Write([](WriteTxn&) { return Status::Ok(); });
    return Status::Ok();
  });
  CHECK(inner.code() == Code::kInternal);
}

TEST_CASE("A full disk fails the write with kUnavailable and the next write works",
          "[storage][write]") {
  StoreFixture f;
  auto opened = SqliteStore::Open(f.Options());
  REQUIRE(opened.ok());
  SqliteStore& store = **opened;
  MustWrite(store, [](WriteTxn& txn) { return txn.UpsertDevice(MakeDevice("dev-0")); });
  // max_page_count is per connection: the writer sees a full disk at its current size.
  auto pages = store.PragmaOnEveryConnection("page_count");
  REQUIRE(pages.ok());
  REQUIRE(store.RunOnWriterForTesting("PRAGMA max_page_count = " + pages->front()).ok());

  Status full = store.Write([](WriteTxn& txn) {
    for (int i = 0; i < 500; ++i) {
      DeviceRow row = MakeDevice("dev-full-" + std::to_string(i));
      row.name = std::string(500, 'n');
      ESCROW_RETURN_IF_ERROR(txn.UpsertDevice(row));
    }
    return Status::Ok();
  });
  CHECK(full.code() == Code::kUnavailable);
  CHECK_THAT(full.message(), Catch::Contains("upsert device") && Catch::Contains("full"));
  CHECK_FALSE(HasDevice(store, "dev-full-0"));

  // The condition is gone for a fresh connection (the limit was the connection's): the store
  // replaced the writer, so the next write works.
  MustWrite(store, [](WriteTxn& txn) { return txn.UpsertDevice(MakeDevice("dev-1")); });
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
      if (!txn.UpsertDevice(row).ok()) break;  // ignored on purpose
    }
    // Any later statement must not run outside the (rolled back) transaction.
    if (txn.SetMeta("after", "x").ok()) return Status::Internal("poisoned txn accepted a write");
    return Status::Ok();
  });
  CHECK(s.code() == Code::kUnavailable);
  CHECK_FALSE(store.GetMeta("after")->has_value());
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
    MustWrite(*store, [](WriteTxn& txn) { return txn.UpsertDevice(MakeDevice("dev-0")); });
  }
  REQUIRE(::chmod(f.path.c_str(), 0444) == 0);
  auto store = f.Open(/*create=*/false);  // reads still work
  CHECK(HasDevice(*store, "dev-0"));
  Status s = store->Write([](WriteTxn& txn) { return txn.UpsertDevice(MakeDevice("dev-1")); });
  CHECK(s.code() == Code::kUnavailable);
  // SQLite made the -wal and -shm files read-only like the database: the condition clears
  // when all three are writable again, as `chmod 0600 vault.db*` would make them.
  for (const char* suffix : {"", "-wal", "-shm"}) {
    const std::string file = f.path + suffix;
    if (std::filesystem::exists(file)) REQUIRE(::chmod(file.c_str(), 0600) == 0);
  }
  MustWrite(*store, [](WriteTxn& txn) { return txn.UpsertDevice(MakeDevice("dev-1")); });
  CHECK(HasDevice(*store, "dev-1"));
}

}  // namespace
}  // namespace escrow::storage
