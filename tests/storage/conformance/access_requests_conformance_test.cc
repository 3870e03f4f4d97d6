// Dual control's access requests on every backend: insert and its refusals, a decision and a
// use each made once by a conditional update, expiry as read, and the paged listing.
#include <catch2/catch.hpp>

#include <thread>
#include <vector>

#include "tests/storage/conformance/backends.h"

namespace escrow::storage {
namespace {

using testing::Backends;
using testing::BackendStore;
using testing::MakeDevice;
using testing::MustWrite;

constexpr std::int64_t kNow = 1'700'000'000'000;

std::string Rid(char c) { return std::string(32, c); }

AccessRequestRow MakeRequest(char id, std::string requester = "user:hd",
                             std::string device = "dev-1") {
  AccessRequestRow row;
  row.id = Rid(id);
  row.device_id = std::move(device);
  row.requester = std::move(requester);
  row.reason = "ticket 1";
  row.version = 1;
  row.created_ms = kNow;
  row.expires_ms = kNow + 3'600'000;
  return row;
}

Bytes Mac() { return Bytes(32, 0x5a); }

AccessDecision Decision(AccessRequestState to, std::string note, std::int64_t at) {
  AccessDecision d;
  d.to = to;
  d.approver = "user:ap";
  d.note = std::move(note);
  d.decided_ms = at;
  if (to == AccessRequestState::kApproved) {
    d.approval_mac = Mac();
    d.approval_key_version = 1;
  }
  return d;
}

// The row as the vault read it approved: what Use names.
AccessRequestRow Approved(char id) {
  AccessRequestRow row = MakeRequest(id);
  row.state = AccessRequestState::kApproved;
  row.approval_mac = Mac();
  row.approval_key_version = 1;
  return row;
}

template <class Backend>
struct RequestFixture : BackendStore<Backend> {
  RequestFixture() {
    MustWrite(*this->owned_store,
              [](WriteTxn& txn) { return txn.devices().Upsert(MakeDevice("dev-1")); });
  }
  Result<std::uint64_t> Insert(const AccessRequestRow& row) {
    std::optional<Result<std::uint64_t>> out;
    Status s = this->owned_store->Write([&](WriteTxn& txn) -> Status {
      out.emplace(txn.access_requests().Insert(row));
      return out->status();
    });
    if (!s.ok()) return s;
    return *out;
  }
  // Decide or Use in a write of its own: its Result (false: nothing changed).
  Result<bool> Change(const std::function<Result<bool>(AccessRequestWriter&)>& fn) {
    std::optional<Result<bool>> out;
    Status s = this->owned_store->Write([&](WriteTxn& txn) -> Status {
      out.emplace(fn(txn.access_requests()));
      return out->status();
    });
    if (!s.ok()) return s;
    return *out;
  }
  std::optional<AccessRequestRow> Get(char id) {
    std::optional<AccessRequestRow> row;
    REQUIRE(this->owned_store
                ->Read([&](ReadTxn& txn) -> Status {
                  ESCROW_ASSIGN_OR_RETURN(row, txn.access_requests().Get(Rid(id)));
                  return Status::Ok();
                })
                .ok());
    return row;
  }
  std::vector<AccessRequestRow> List(std::optional<AccessRequestState> state,
                                     std::optional<std::string_view> requester,
                                     std::int64_t now_ms, std::uint64_t after, std::size_t limit) {
    std::vector<AccessRequestRow> rows;
    REQUIRE(this->owned_store
                ->Read([&](ReadTxn& txn) -> Status {
                  ESCROW_ASSIGN_OR_RETURN(
                      rows, txn.access_requests().List(state, requester, now_ms, after, limit));
                  return Status::Ok();
                })
                .ok());
    return rows;
  }
};

TEMPLATE_LIST_TEST_CASE_METHOD(RequestFixture, "Access requests are inserted pending, once",
                               "[storage][conformance][access_requests]", Backends) {
  Result<std::uint64_t> first = this->Insert(MakeRequest('a'));
  REQUIRE(first.ok());
  Result<std::uint64_t> second = this->Insert(MakeRequest('b'));
  REQUIRE(second.ok());
  CHECK(*second > *first);
  std::optional<AccessRequestRow> row = this->Get('a');
  REQUIRE(row.has_value());
  CHECK(row->seq == *first);
  CHECK(row->state == AccessRequestState::kPending);
  CHECK(row->requester == "user:hd");
  CHECK(row->reason == "ticket 1");
  CHECK_FALSE(row->approver.has_value());
  CHECK_FALSE(this->Get('z').has_value());

  CHECK(this->Insert(MakeRequest('a')).status().code() == Code::kAlreadyExists);
  AccessRequestRow bad = MakeRequest('c');
  bad.id = std::string(32, 'C');  // not lowercase hex
  CHECK(this->Insert(bad).status().code() == Code::kInvalidArgument);
  bad = MakeRequest('c');
  bad.expires_ms = bad.created_ms;
  CHECK(this->Insert(bad).status().code() == Code::kInvalidArgument);
  bad = MakeRequest('c');
  bad.state = AccessRequestState::kApproved;
  CHECK(this->Insert(bad).status().code() == Code::kInvalidArgument);
  CHECK(this->Insert(MakeRequest('c', "user:hd", "no-such-device")).status().code() ==
        Code::kFailedPrecondition);
}

TEMPLATE_LIST_TEST_CASE_METHOD(RequestFixture, "An access request is decided once and used once",
                               "[storage][conformance][access_requests]", Backends) {
  REQUIRE(this->Insert(MakeRequest('a')).ok());
  REQUIRE(this->Insert(MakeRequest('b')).ok());
  // Not approved yet: no use.
  CHECK_FALSE(*this->Change([](AccessRequestWriter& w) { return w.Use(Approved('a'), kNow); }));
  CHECK(*this->Change([](AccessRequestWriter& w) {
    return w.Decide(Rid('a'), Decision(AccessRequestState::kApproved, "ok", kNow + 1));
  }));
  CHECK_FALSE(*this->Change([](AccessRequestWriter& w) {
    return w.Decide(Rid('a'), Decision(AccessRequestState::kDenied, "no", kNow + 2));
  }));
  std::optional<AccessRequestRow> row = this->Get('a');
  REQUIRE(row.has_value());
  CHECK(row->state == AccessRequestState::kApproved);
  CHECK(row->approver == "user:ap");
  CHECK(row->note == "ok");
  CHECK(row->decided_ms == kNow + 1);
  CHECK(*this->Change([](AccessRequestWriter& w) { return w.Use(Approved('a'), kNow + 5); }));
  CHECK_FALSE(*this->Change([](AccessRequestWriter& w) { return w.Use(Approved('a'), kNow + 6); }));
  row = this->Get('a');
  CHECK(row->state == AccessRequestState::kUsed);
  CHECK(row->used_ms == kNow + 5);

  CHECK(*this->Change([](AccessRequestWriter& w) {
    return w.Decide(Rid('b'), Decision(AccessRequestState::kDenied, "no", kNow));
  }));
  CHECK_FALSE(*this->Change([](AccessRequestWriter& w) { return w.Use(Approved('b'), kNow); }));
  CHECK(this->Get('b')->state == AccessRequestState::kDenied);
  CHECK_FALSE(*this->Change([](AccessRequestWriter& w) { return w.Use(Approved('z'), kNow); }));
  CHECK(this->Change([](AccessRequestWriter& w) {
              return w.Decide(Rid('b'), Decision(AccessRequestState::kUsed, "", kNow));
            })
            .status()
            .code() == Code::kInvalidArgument);
}

TEMPLATE_LIST_TEST_CASE_METHOD(RequestFixture,
                               "An approval keeps its MAC, and a use must name the row as approved",
                               "[storage][conformance][access_requests]", Backends) {
  REQUIRE(this->Insert(MakeRequest('a')).ok());
  AccessDecision no_mac = Decision(AccessRequestState::kApproved, "", kNow);
  no_mac.approval_mac.clear();
  CHECK(this->Change([&](AccessRequestWriter& w) { return w.Decide(Rid('a'), no_mac); })
            .status()
            .code() == Code::kInvalidArgument);
  AccessDecision denied_with_mac = Decision(AccessRequestState::kDenied, "", kNow);
  denied_with_mac.approval_mac = Mac();
  CHECK(this->Change([&](AccessRequestWriter& w) { return w.Decide(Rid('a'), denied_with_mac); })
            .status()
            .code() == Code::kInvalidArgument);
  REQUIRE(*this->Change([](AccessRequestWriter& w) {
    return w.Decide(Rid('a'), Decision(AccessRequestState::kApproved, "", kNow));
  }));
  std::optional<AccessRequestRow> row = this->Get('a');
  REQUIRE(row.has_value());
  CHECK(row->approval_mac == Mac());
  CHECK(row->approval_key_version == 1);
  // Each field a use names must match the row: nothing changes otherwise.
  std::vector<AccessRequestRow> wrong(5, Approved('a'));
  wrong[0].device_id = "dev-2";
  wrong[1].requester = "user:other";
  wrong[2].version = 2;
  wrong[3].approval_mac = Bytes(32, 0x5b);
  wrong[4].approval_mac.clear();
  for (const AccessRequestRow& w : wrong) {
    CHECK_FALSE(*this->Change([&](AccessRequestWriter& writer) { return writer.Use(w, kNow); }));
  }
  CHECK(this->Get('a')->state == AccessRequestState::kApproved);
  CHECK(*this->Change([](AccessRequestWriter& w) { return w.Use(Approved('a'), kNow); }));
}

TEMPLATE_LIST_TEST_CASE_METHOD(RequestFixture,
                               "An expired access request can be neither decided nor used",
                               "[storage][conformance][access_requests]", Backends) {
  REQUIRE(this->Insert(MakeRequest('a')).ok());
  REQUIRE(this->Insert(MakeRequest('b')).ok());
  const std::int64_t expiry = MakeRequest('a').expires_ms;
  CHECK_FALSE(*this->Change([&](AccessRequestWriter& w) {
    return w.Decide(Rid('a'), Decision(AccessRequestState::kApproved, "", expiry));
  }));
  CHECK(*this->Change([&](AccessRequestWriter& w) {
    return w.Decide(Rid('b'), Decision(AccessRequestState::kApproved, "", expiry - 1));
  }));
  CHECK_FALSE(*this->Change([&](AccessRequestWriter& w) { return w.Use(Approved('b'), expiry); }));
  CHECK(EffectiveState(*this->Get('a'), expiry) == AccessRequestState::kExpired);
  CHECK(EffectiveState(*this->Get('a'), expiry - 1) == AccessRequestState::kPending);
  CHECK(EffectiveState(*this->Get('b'), expiry) == AccessRequestState::kExpired);
}

TEMPLATE_LIST_TEST_CASE_METHOD(RequestFixture,
                               "Access requests are listed in order, by state and requester, "
                               "a page at a time",
                               "[storage][conformance][access_requests]", Backends) {
  REQUIRE(this->Insert(MakeRequest('a')).ok());
  REQUIRE(this->Insert(MakeRequest('b', "user:other")).ok());
  AccessRequestRow soon = MakeRequest('c');
  soon.expires_ms = kNow + 10;
  REQUIRE(this->Insert(soon).ok());
  REQUIRE(this->Insert(MakeRequest('d')).ok());
  REQUIRE(*this->Change([](AccessRequestWriter& w) {
    return w.Decide(Rid('d'), Decision(AccessRequestState::kDenied, "", kNow));
  }));
  const std::int64_t later = kNow + 100;

  auto ids = [](const std::vector<AccessRequestRow>& rows) {
    std::string out;
    for (const auto& r : rows) out += r.id.front();
    return out;
  };
  CHECK(ids(this->List(std::nullopt, std::nullopt, later, 0, 100)) == "abcd");
  CHECK(ids(this->List(AccessRequestState::kPending, std::nullopt, later, 0, 100)) == "ab");
  CHECK(ids(this->List(AccessRequestState::kPending, std::nullopt, kNow, 0, 100)) == "abc");
  CHECK(ids(this->List(AccessRequestState::kExpired, std::nullopt, later, 0, 100)) == "c");
  CHECK(ids(this->List(AccessRequestState::kDenied, std::nullopt, later, 0, 100)) == "d");
  CHECK(ids(this->List(std::nullopt, std::string_view("user:hd"), later, 0, 100)) == "acd");
  CHECK(ids(this->List(AccessRequestState::kPending, std::string_view("user:hd"), later, 0,
                       100)) == "a");
  // Paging: `after` is the last seq seen.
  std::vector<AccessRequestRow> page = this->List(std::nullopt, std::nullopt, later, 0, 2);
  REQUIRE(ids(page) == "ab");
  CHECK(ids(this->List(std::nullopt, std::nullopt, later, page.back().seq, 2)) == "cd");
  CHECK(this->List(std::nullopt, std::nullopt, later, page.back().seq + 10, 2).empty());
}

TEMPLATE_LIST_TEST_CASE_METHOD(RequestFixture,
                               "Racing uses of one approved access request succeed once",
                               "[storage][conformance][access_requests]", Backends) {
  REQUIRE(this->Insert(MakeRequest('a')).ok());
  REQUIRE(*this->Change([](AccessRequestWriter& w) {
    return w.Decide(Rid('a'), Decision(AccessRequestState::kApproved, "", kNow));
  }));
  std::atomic<int> used{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      Status s = this->owned_store->Write([&](WriteTxn& txn) -> Status {
        ESCROW_ASSIGN_OR_RETURN(const bool changed, txn.access_requests().Use(Approved('a'), kNow));
        if (changed) ++used;
        return Status::Ok();
      });
      (void)s;
    });
  }
  for (auto& t : threads) t.join();
  CHECK(used.load() == 1);
}

}  // namespace
}  // namespace escrow::storage
