#include <catch2/catch.hpp>

#include "tests/storage/store_fixture.h"

namespace escrow::storage {
namespace {

using testing::GetDevice;
using testing::MakeDevice;
using testing::MustWrite;
using testing::StoreFixture;

TEST_CASE("Two stores on one file see each other's commits", "[storage][concurrency]") {
  StoreFixture f;
  auto a = f.Open();
  auto b = f.Open(/*create=*/false);
  MustWrite(*a, [](WriteTxn& txn) { return txn.devices().Upsert(MakeDevice("from-a")); });
  MustWrite(*b, [](WriteTxn& txn) { return txn.devices().Upsert(MakeDevice("from-b")); });
  CHECK(GetDevice(*b, "from-a")->has_value());
  CHECK(GetDevice(*a, "from-b")->has_value());
}

}  // namespace
}  // namespace escrow::storage
