#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <limits>

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
    ESCROW_RETURN_IF_ERROR(txn.AddQuotaEvent("helpdesk-1", 1'700'000'000'000, 0).status());
    return Status::PermissionDenied("policy said no", "forbidden");
  });
  CHECK(s.code() == Code::kPermissionDenied);
  CHECK(s.reason() == "forbidden");
  CHECK_FALSE(HasDevice(*store, "dev-1"));
  CHECK_FALSE(store->GetKeyVersion("dev-1", 1)->has_value());
  CHECK_FALSE(store->LastAudit()->has_value());
  CHECK_FALSE(store->GetMeta("k")->has_value());
  CHECK(store->GetQuotaWindow("helpdesk-1", 0)->count == 0);
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

// Quota events as the vault writes them: `at_ms` now, the window the 24 h before it.
constexpr std::int64_t kWindowMs = std::int64_t{24} * 3600 * 1000;

QuotaWindow MustAddQuotaEvent(Store& store, std::string_view principal, std::int64_t at_ms) {
  QuotaWindow window;
  MustWrite(store, [&](WriteTxn& txn) -> Status {
    ESCROW_ASSIGN_OR_RETURN(window, txn.AddQuotaEvent(principal, at_ms, at_ms - kWindowMs));
    return Status::Ok();
  });
  return window;
}

QuotaWindow MustGetQuotaWindow(Store& store, std::string_view principal, std::int64_t since_ms) {
  Result<QuotaWindow> window = store.GetQuotaWindow(principal, since_ms);
  INFO(window.status().ToString());
  REQUIRE(window.ok());
  return *window;
}

TEST_CASE("Store counts quota events per principal in a rolling window",
          "[storage][write][quota]") {
  StoreFixture f;
  auto store = f.Open();
  constexpr std::int64_t t0 = 1'700'000'000'000;
  CHECK(MustGetQuotaWindow(*store, "hd-1", t0).count == 0);
  CHECK_FALSE(MustGetQuotaWindow(*store, "hd-1", t0).oldest_ms.has_value());

  std::vector<std::int64_t> counts;
  for (const std::int64_t at : {t0, t0 + 1000, t0 + 1000, t0 + 5000}) {  // two in one ms
    const QuotaWindow w = MustAddQuotaEvent(*store, "hd-1", at);
    CHECK(w.oldest_ms == std::optional<std::int64_t>(t0));
    counts.push_back(w.count);
  }
  CHECK(counts == std::vector<std::int64_t>{1, 2, 3, 4});
  MustAddQuotaEvent(*store, "hd-2", t0 + 2000);

  // An event counts while it is after the window's start, and not once the start reaches it.
  CHECK(MustGetQuotaWindow(*store, "hd-1", t0 - 1).count == 4);
  const QuotaWindow later = MustGetQuotaWindow(*store, "hd-1", t0);
  CHECK(later.count == 3);
  CHECK(later.oldest_ms == std::optional<std::int64_t>(t0 + 1000));
  CHECK(MustGetQuotaWindow(*store, "hd-1", t0 + 1000).count == 1);
  CHECK(MustGetQuotaWindow(*store, "hd-1", t0 + 5000).count == 0);
  CHECK(MustGetQuotaWindow(*store, "hd-2", t0 - 1).count == 1);
  CHECK(MustGetQuotaWindow(*store, "hd-3", t0 - 1).count == 0);
}

TEST_CASE("Adding a quota event prunes the principal's events that left the window",
          "[storage][write][quota]") {
  StoreFixture f;
  auto store = f.Open();
  constexpr std::int64_t t0 = 1'700'000'000'000;
  for (const std::int64_t at : {t0, t0 + 1000, t0 + 2000}) MustAddQuotaEvent(*store, "hd-1", at);
  MustAddQuotaEvent(*store, "hd-2", t0);
  auto rows = [&](std::string_view principal) {
    // Old events are invisible to GetQuotaWindow: ask for every row the table holds.
    return MustGetQuotaWindow(*store, principal, std::numeric_limits<std::int64_t>::min()).count;
  };
  REQUIRE(rows("hd-1") == 3);

  // 24 h and 1 s after the first: the first two have left the window and are deleted.
  const QuotaWindow w = MustAddQuotaEvent(*store, "hd-1", t0 + kWindowMs + 1000);
  CHECK(w.count == 2);
  CHECK(w.oldest_ms == std::optional<std::int64_t>(t0 + 2000));
  CHECK(rows("hd-1") == 2);
  CHECK(rows("hd-2") == 1);  // another principal's rows wait for that principal's next event

  SECTION("a rolled-back event leaves the window and the pruned rows as they were") {
    Status s = store->Write([&](WriteTxn& txn) -> Status {
      ESCROW_RETURN_IF_ERROR(
          txn.AddQuotaEvent("hd-1", t0 + 3 * kWindowMs, t0 + 2 * kWindowMs).status());
      return Status::ResourceExhausted("over quota", 60);
    });
    CHECK(s.code() == Code::kResourceExhausted);
    CHECK(rows("hd-1") == 2);
  }
  SECTION("inside Isolated, as the vault's release does") {
    MustWrite(*store, [&](WriteTxn& txn) -> Status {
      Status refused = txn.Isolated([&](WriteTxn& t) -> Status {
        ESCROW_ASSIGN_OR_RETURN(QuotaWindow in,
                                t.AddQuotaEvent("hd-1", t0 + kWindowMs + 2000, t0 + 2000));
        constexpr std::int64_t kQuota = 1;
        return in.count > kQuota ? Status::ResourceExhausted("over quota", 1) : Status::Ok();
      });
      return refused.code() == Code::kResourceExhausted ? Status::Ok() : refused;
    });
    CHECK(rows("hd-1") == 2);
  }
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
