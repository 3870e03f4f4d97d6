#include <atomic>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "tests/storage/conformance/backends.h"

namespace escrow::storage {
namespace {

using testing::Backends;
using testing::GetDevice;
using testing::GetQuotaWindow;
using testing::LastAudit;
using testing::ListAllDevices;
using testing::ListAudit;
using testing::ListDevicesByOwner;
using testing::MakeAudit;
using testing::MakeDevice;
using testing::MakeKeyVersion;
using testing::MustWrite;

TEMPLATE_LIST_TEST_CASE("Store serves concurrent readers and writers",
                        "[storage][conformance][concurrency]", Backends) {
  TestType backend;
  auto store = backend.Open();
  MustWrite(*store, [](WriteTxn& txn) { return txn.devices().Upsert(MakeDevice("dev-shared")); });

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
          ESCROW_RETURN_IF_ERROR(
              txn.devices().Upsert(MakeDevice(id, "owner-" + std::to_string(w))));
          ESCROW_RETURN_IF_ERROR(txn.versions().Insert(MakeKeyVersion(id, 1)));
          ESCROW_RETURN_IF_ERROR(txn.limits().AddQuotaEvent("shared", 1, 0).status());
          // Writes are serialised, so the head read here is the head at commit.
          const std::uint64_t seq = next_seq.load();
          ESCROW_RETURN_IF_ERROR(txn.audit().Append(MakeAudit(seq, id)));
          next_seq.store(seq + 1);
          return Status::Ok();
        });
        if (!s.ok()) ++write_failures;
      }
    });
  }
  for (int r = 0; r < kReaders; ++r) {
    // At least one read each, however the threads are scheduled (a fast backend's writers may
    // be done before a reader first runs).
    threads.emplace_back([&] {
      do {
        auto device = GetDevice(*store, "dev-shared");
        auto audit = ListAudit(*store, 0, 10, std::nullopt);
        auto last = LastAudit(*store);
        auto owned = ListDevicesByOwner(*store, "owner-1");
        if (!device.ok() || !device->has_value() || !audit.ok() || !last.ok() || !owned.ok()) {
          ++read_failures;
        }
        ++reads;
      } while (!done.load());
    });
  }
  for (int w = 0; w < kWriters; ++w) threads[static_cast<std::size_t>(w)].join();
  done.store(true);
  for (std::size_t t = kWriters; t < threads.size(); ++t) threads[t].join();

  CHECK(write_failures.load() == 0);
  CHECK(read_failures.load() == 0);
  CHECK(reads.load() >= kReaders);
  CHECK(GetQuotaWindow(*store, "shared", 0)->count == kWriters * kWritesEach);
  auto last = LastAudit(*store);
  REQUIRE(last.ok());
  REQUIRE(last->has_value());
  CHECK((*last)->seq == static_cast<std::uint64_t>(kWriters * kWritesEach));
  auto all = ListAllDevices(*store, 1000);
  REQUIRE(all.ok());
  CHECK(all->size() == static_cast<std::size_t>(kWriters * kWritesEach + 1));
}

}  // namespace
}  // namespace escrow::storage
