#include <atomic>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "tests/storage/store_fixture.h"

namespace escrow::storage {
namespace {

using testing::MakeAudit;
using testing::MakeDevice;
using testing::MakeKeyVersion;
using testing::MustWrite;
using testing::StoreFixture;

TEST_CASE("Store serves concurrent readers and writers", "[storage][concurrency]") {
  StoreFixture f;
  auto store = f.Open();
  MustWrite(*store, [](WriteTxn& txn) { return txn.UpsertDevice(MakeDevice("dev-shared")); });

  constexpr int kWriters = 4;
  constexpr int kWritesEach = 25;
  constexpr int kReaders = 6;
  std::atomic<bool> done{false};
  std::atomic<int> write_failures{0};
  std::atomic<int> read_failures{0};
  std::atomic<int> reads{0};
  std::atomic<std::uint64_t> next_seq{1};

  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      for (int i = 0; i < kWritesEach; ++i) {
        const std::string id = "dev-" + std::to_string(w) + "-" + std::to_string(i);
        Status s = store->Write([&](WriteTxn& txn) -> Status {
          ESCROW_RETURN_IF_ERROR(txn.UpsertDevice(MakeDevice(id, "owner-" + std::to_string(w))));
          ESCROW_RETURN_IF_ERROR(txn.InsertKeyVersion(MakeKeyVersion(id, 1)));
          ESCROW_RETURN_IF_ERROR(txn.AddQuotaEvent("shared", 1, 0).status());
          // Writes are serialised, so the head read here is the head at commit.
          const std::uint64_t seq = next_seq.load();
          ESCROW_RETURN_IF_ERROR(txn.AppendAudit(MakeAudit(seq, id)));
          next_seq.store(seq + 1);
          return Status::Ok();
        });
        if (!s.ok()) ++write_failures;
      }
    });
  }
  for (int r = 0; r < kReaders; ++r) {
    threads.emplace_back([&] {
      while (!done.load()) {
        auto device = store->GetDevice("dev-shared");
        auto audit = store->ListAudit(0, 10, std::nullopt);
        auto last = store->LastAudit();
        auto owned = store->ListDevicesByOwner("owner-1");
        if (!device.ok() || !device->has_value() || !audit.ok() || !last.ok() || !owned.ok()) {
          ++read_failures;
        }
        ++reads;
      }
    });
  }
  for (int w = 0; w < kWriters; ++w) threads[static_cast<std::size_t>(w)].join();
  done.store(true);
  for (std::size_t t = kWriters; t < threads.size(); ++t) threads[t].join();

  CHECK(write_failures.load() == 0);
  CHECK(read_failures.load() == 0);
  CHECK(reads.load() > 0);
  CHECK(store->GetQuotaWindow("shared", 0)->count == std::int64_t{kWriters} * kWritesEach);
  auto last = store->LastAudit();
  REQUIRE(last.ok());
  REQUIRE(last->has_value());
  CHECK((*last)->seq == static_cast<std::uint64_t>(kWriters * kWritesEach));
  auto all = store->ListAllDevices(1000);
  REQUIRE(all.ok());
  CHECK(all->size() == static_cast<std::size_t>(kWriters * kWritesEach + 1));
}

TEST_CASE("Two stores on one file see each other's commits", "[storage][concurrency]") {
  StoreFixture f;
  auto a = f.Open();
  auto b = f.Open(/*create=*/false);
  MustWrite(*a, [](WriteTxn& txn) { return txn.UpsertDevice(MakeDevice("from-a")); });
  MustWrite(*b, [](WriteTxn& txn) { return txn.UpsertDevice(MakeDevice("from-b")); });
  CHECK(b->GetDevice("from-a")->has_value());
  CHECK(a->GetDevice("from-b")->has_value());
}

}  // namespace
}  // namespace escrow::storage
