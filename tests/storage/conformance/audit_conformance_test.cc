#include <catch2/catch.hpp>

#include "tests/storage/conformance/backends.h"

namespace escrow::storage {
namespace {

using testing::Backends;
using testing::BackendStore;
using testing::LastAudit;
using testing::ListAudit;
using testing::MakeAudit;
using testing::MustWrite;

std::vector<std::uint64_t> Seqs(const std::vector<AuditRow>& rows) {
  std::vector<std::uint64_t> seqs;
  for (const AuditRow& row : rows) seqs.push_back(row.seq);
  return seqs;
}

template <class Backend>
struct AuditFixture : BackendStore<Backend> {
  AuditFixture() {
    MustWrite(*this->owned_store, [](WriteTxn& txn) {
      for (std::uint64_t seq = 1; seq <= 6; ++seq) {
        AuditRow row = MakeAudit(seq, seq % 2 == 0 ? "dev-even" : "dev-odd");
        if (seq == 6) row.mac = Bytes(32, 0xEE);
        ESCROW_RETURN_IF_ERROR(txn.audit().Append(row));
      }
      return Status::Ok();
    });
  }
};

TEMPLATE_LIST_TEST_CASE("LastAudit of an empty trail is absent", "[storage][conformance][audit]",
                        Backends) {
  TestType backend;
  auto store = backend.Open();
  auto last = LastAudit(*store);
  REQUIRE(last.ok());
  CHECK_FALSE(last->has_value());
  auto all = ListAudit(*store, 0, 10, std::nullopt);
  REQUIRE(all.ok());
  CHECK(all->empty());
}

TEMPLATE_LIST_TEST_CASE_METHOD(AuditFixture, "Store appends and lists audit records",
                               "[storage][conformance][audit]", Backends) {
  Store* store = this->owned_store.get();
  auto all = ListAudit(*store, 0, 100, std::nullopt);
  REQUIRE(all.ok());
  CHECK(Seqs(*all) == std::vector<std::uint64_t>{1, 2, 3, 4, 5, 6});
  const AuditRow& first = (*all)[0];
  const AuditRow expected = MakeAudit(1, "dev-odd");
  CHECK(first.time_ms == expected.time_ms);
  CHECK(first.actor == expected.actor);
  CHECK(first.role == expected.role);
  CHECK(first.action == expected.action);
  CHECK(first.device_id == "dev-odd");
  CHECK(first.outcome == "ok");
  CHECK(first.reason == expected.reason);
  CHECK(first.detail == expected.detail);
  CHECK(first.hash == expected.hash);
  CHECK_FALSE(first.mac.has_value());
  CHECK(first.audit_key_version == 1);

  SECTION("after and limit") {
    auto page = ListAudit(*store, 2, 3, std::nullopt);
    REQUIRE(page.ok());
    CHECK(Seqs(*page) == std::vector<std::uint64_t>{3, 4, 5});
    auto tail = ListAudit(*store, 6, 3, std::nullopt);
    REQUIRE(tail.ok());
    CHECK(tail->empty());
    auto huge_after = ListAudit(*store, std::numeric_limits<std::uint64_t>::max(), 3, std::nullopt);
    REQUIRE(huge_after.ok());
    CHECK(huge_after->empty());
  }
  SECTION("device filter") {
    auto even = ListAudit(*store, 0, 100, std::string_view("dev-even"));
    REQUIRE(even.ok());
    CHECK(Seqs(*even) == std::vector<std::uint64_t>{2, 4, 6});
    auto even_after = ListAudit(*store, 2, 1, std::string_view("dev-even"));
    REQUIRE(even_after.ok());
    CHECK(Seqs(*even_after) == std::vector<std::uint64_t>{4});
    auto other = ListAudit(*store, 0, 100, std::string_view("dev-none"));
    REQUIRE(other.ok());
    CHECK(other->empty());
  }
  SECTION("LastAudit is the head, with its MAC") {
    auto last = LastAudit(*store);
    REQUIRE(last.ok());
    REQUIRE(last->has_value());
    CHECK((*last)->seq == 6);
    CHECK((*last)->mac == std::optional<Bytes>(Bytes(32, 0xEE)));
  }
  SECTION("inside a transaction, LastAudit sees the committed head and then its own append") {
    MustWrite(*store, [](WriteTxn& txn) {
      Result<std::optional<AuditRow>> before = txn.audit().Last();
      REQUIRE(before.ok());
      REQUIRE(before->has_value());
      CHECK((*before)->seq == 6);
      CHECK((*before)->mac == std::optional<Bytes>(Bytes(32, 0xEE)));
      ESCROW_RETURN_IF_ERROR(txn.audit().Append(MakeAudit(7)));
      Result<std::optional<AuditRow>> after = txn.audit().Last();
      REQUIRE(after.ok());
      REQUIRE(after->has_value());
      CHECK((*after)->seq == 7);
      return Status::Ok();
    });
  }
}

TEMPLATE_LIST_TEST_CASE_METHOD(AuditFixture, "Store keeps the audit sequence gap-free",
                               "[storage][conformance][audit]", Backends) {
  Store* store = this->owned_store.get();
  SECTION("an existing seq is kAlreadyExists") {
    CHECK(store->Write([](WriteTxn& txn) { return txn.audit().Append(MakeAudit(6)); }).code() ==
          Code::kAlreadyExists);
    CHECK(store->Write([](WriteTxn& txn) { return txn.audit().Append(MakeAudit(1)); }).code() ==
          Code::kAlreadyExists);
  }
  SECTION("a seq past the head plus one is kInvalidArgument") {
    CHECK(store->Write([](WriteTxn& txn) { return txn.audit().Append(MakeAudit(8)); }).code() ==
          Code::kInvalidArgument);
  }
  SECTION("a hash that is not 32 bytes is kInvalidArgument") {
    AuditRow row = MakeAudit(7);
    row.hash = Bytes(31, 1);
    CHECK(store->Write([&](WriteTxn& txn) { return txn.audit().Append(row); }).code() ==
          Code::kInvalidArgument);
  }
  auto last = LastAudit(*store);
  REQUIRE(last.ok());
  CHECK((*last)->seq == 6);
}

}  // namespace
}  // namespace escrow::storage
