#include <limits>

#include <catch2/catch.hpp>

#include "tests/storage/conformance/backends.h"

namespace escrow::storage {
namespace {

using testing::Backends;
using testing::GetDevice;
using testing::GetKeyVersion;
using testing::GetMeta;
using testing::GetQuotaWindow;
using testing::LastAudit;
using testing::MakeAudit;
using testing::MakeDevice;
using testing::MakeKeyVersion;
using testing::MustWrite;

bool HasDevice(Store& store, std::string_view id) {
  auto row = GetDevice(store, id);
  REQUIRE(row.ok());
  return row->has_value();
}

TEMPLATE_LIST_TEST_CASE("A failing Write callback rolls back everything",
                        "[storage][conformance][write]", Backends) {
  TestType backend;
  auto store = backend.Open();
  Status s = store->Write([](WriteTxn& txn) {
    ESCROW_RETURN_IF_ERROR(txn.devices().Upsert(MakeDevice("dev-1")));
    ESCROW_RETURN_IF_ERROR(txn.versions().Insert(MakeKeyVersion("dev-1", 1)));
    ESCROW_RETURN_IF_ERROR(txn.audit().Append(MakeAudit(1)));
    ESCROW_RETURN_IF_ERROR(txn.meta().Set("k", "v"));
    ESCROW_RETURN_IF_ERROR(txn.limits().AddQuotaEvent("helpdesk-1", 1'700'000'000'000, 0).status());
    return Status::PermissionDenied("policy said no", "forbidden");
  });
  CHECK(s.code() == Code::kPermissionDenied);
  CHECK(s.reason() == "forbidden");
  CHECK_FALSE(HasDevice(*store, "dev-1"));
  CHECK_FALSE(GetKeyVersion(*store, "dev-1", 1)->has_value());
  CHECK_FALSE(LastAudit(*store)->has_value());
  CHECK_FALSE(GetMeta(*store, "k")->has_value());
  CHECK(GetQuotaWindow(*store, "helpdesk-1", 0)->count == 0);
  // The writer is usable afterwards.
  MustWrite(*store, [](WriteTxn& txn) { return txn.devices().Upsert(MakeDevice("dev-2")); });
  CHECK(HasDevice(*store, "dev-2"));
}

TEMPLATE_LIST_TEST_CASE("A callback that ignores a row error still commits its other work",
                        "[storage][conformance][write]", Backends) {
  TestType backend;
  auto store = backend.Open();
  MustWrite(*store, [](WriteTxn& txn) { return txn.devices().Upsert(MakeDevice("dev-1")); });
  MustWrite(*store, [](WriteTxn& txn) {
    Status missing = txn.devices().SetCheckin("nope", 1);
    if (missing.code() != Code::kNotFound) return missing;
    return txn.devices().SetCheckin("dev-1", 99);
  });
  CHECK(GetDevice(*store, "dev-1")->value().last_checkin_ms == std::optional<std::int64_t>(99));
}

TEMPLATE_LIST_TEST_CASE("Isolated rolls back only its own part", "[storage][conformance][write]",
                        Backends) {
  TestType backend;
  auto store = backend.Open();
  MustWrite(*store, [](WriteTxn& txn) {
    ESCROW_RETURN_IF_ERROR(txn.devices().Upsert(MakeDevice("before")));
    Status inner = txn.Isolated([](WriteTxn& t) {
      ESCROW_RETURN_IF_ERROR(t.devices().Upsert(MakeDevice("inside-failed")));
      return Status::NotFound("no such key", "recovery_key_not_found");
    });
    if (inner.code() != Code::kNotFound || inner.reason() != "recovery_key_not_found") {
      return Status::Internal("unexpected " + inner.ToString());
    }
    Status middle = txn.Isolated([](WriteTxn& t) {
      ESCROW_RETURN_IF_ERROR(t.devices().Upsert(MakeDevice("inside-ok")));
      // Nested: the inner failure leaves the middle level's work.
      Status nested = t.Isolated([](WriteTxn& n) {
        ESCROW_RETURN_IF_ERROR(n.devices().Upsert(MakeDevice("nested-failed")));
        return Status::Unavailable("hsm gone");
      });
      return nested.code() == Code::kUnavailable ? Status::Ok() : nested;
    });
    ESCROW_RETURN_IF_ERROR(middle);
    return txn.devices().Upsert(MakeDevice("after"));
  });
  CHECK(HasDevice(*store, "before"));
  CHECK(HasDevice(*store, "inside-ok"));
  CHECK(HasDevice(*store, "after"));
  CHECK_FALSE(HasDevice(*store, "inside-failed"));
  CHECK_FALSE(HasDevice(*store, "nested-failed"));

  SECTION("and the whole Write still rolls back its successful Isolated parts") {
    Status s = store->Write([](WriteTxn& txn) {
      Status inside =
          txn.Isolated([](WriteTxn& t) { return t.devices().Upsert(MakeDevice("kept-inside")); });
      return inside.ok() ? Status::Internal("abort") : inside;
    });
    CHECK(s.code() == Code::kInternal);
    CHECK_FALSE(HasDevice(*store, "kept-inside"));
  }
}

TEMPLATE_LIST_TEST_CASE("Store reads and writes meta values", "[storage][conformance][write]",
                        Backends) {
  TestType backend;
  auto store = backend.Open();
  CHECK_FALSE(GetMeta(*store, "active_master_key_version")->has_value());
  MustWrite(*store, [](WriteTxn& txn) {
    ESCROW_RETURN_IF_ERROR(txn.meta().Set("active_master_key_version", "1"));
    return txn.meta().Set("rotation_state", "");
  });
  MustWrite(*store, [](WriteTxn& txn) { return txn.meta().Set("active_master_key_version", "2"); });
  CHECK(*GetMeta(*store, "active_master_key_version") == std::optional<std::string>("2"));
  CHECK(*GetMeta(*store, "rotation_state") == std::optional<std::string>(""));
}

// Quota events as the vault writes them: `at_ms` now, the window the 24 h before it.
constexpr std::int64_t kWindowMs = std::int64_t{24} * 3600 * 1000;

QuotaWindow MustAddQuotaEvent(Store& store, std::string_view principal, std::int64_t at_ms) {
  QuotaWindow window;
  MustWrite(store, [&](WriteTxn& txn) -> Status {
    ESCROW_ASSIGN_OR_RETURN(window,
                            txn.limits().AddQuotaEvent(principal, at_ms, at_ms - kWindowMs));
    return Status::Ok();
  });
  return window;
}

QuotaWindow MustGetQuotaWindow(Store& store, std::string_view principal, std::int64_t since_ms) {
  Result<QuotaWindow> window = GetQuotaWindow(store, principal, since_ms);
  INFO(window.status().ToString());
  REQUIRE(window.ok());
  return *window;
}

TEMPLATE_LIST_TEST_CASE("Store counts quota events per principal in a rolling window",
                        "[storage][conformance][write][quota]", Backends) {
  TestType backend;
  auto store = backend.Open();
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

TEMPLATE_LIST_TEST_CASE("Adding a quota event prunes the principal's events that left the window",
                        "[storage][conformance][write][quota]", Backends) {
  TestType backend;
  auto store = backend.Open();
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
          txn.limits().AddQuotaEvent("hd-1", t0 + 3 * kWindowMs, t0 + 2 * kWindowMs).status());
      return Status::ResourceExhausted("over quota", 60);
    });
    CHECK(s.code() == Code::kResourceExhausted);
    CHECK(rows("hd-1") == 2);
  }
  SECTION("inside Isolated, as the vault's release does") {
    MustWrite(*store, [&](WriteTxn& txn) -> Status {
      Status refused = txn.Isolated([&](WriteTxn& t) -> Status {
        ESCROW_ASSIGN_OR_RETURN(QuotaWindow in,
                                t.limits().AddQuotaEvent("hd-1", t0 + kWindowMs + 2000, t0 + 2000));
        constexpr std::int64_t kQuota = 1;
        return in.count > kQuota ? Status::ResourceExhausted("over quota", 1) : Status::Ok();
      });
      return refused.code() == Code::kResourceExhausted ? Status::Ok() : refused;
    });
    CHECK(rows("hd-1") == 2);
  }
}

TEMPLATE_LIST_TEST_CASE("Write called inside a Write callback fails instead of deadlocking",
                        "[storage][conformance][write]", Backends) {
  TestType backend;
  auto store = backend.Open();
  Status inner;
  MustWrite(*store, [&](WriteTxn&) {
    inner = store->Write([](WriteTxn&) { return Status::Ok(); });
    return Status::Ok();
  });
  CHECK(inner.code() == Code::kInternal);
}

}  // namespace
}  // namespace escrow::storage
