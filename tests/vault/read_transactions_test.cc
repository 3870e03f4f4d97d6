// Each request reads its rows in one read transaction (one pooled connection, one snapshot),
// counted through the failing store's wrapper. A count of transactions, not a timing.

#include <catch2/catch.hpp>

#include "tests/vault/fake_vault.h"

namespace escrow::testing {
namespace {

TEST_CASE("Each request of the escrow service reads in one read transaction",
          "[vault][read_transactions]") {
  FakeVault v;
  const vault::Caller mdm = vault::Caller::Mdm("mdm");
  const vault::Caller alice = vault::Caller::User("alice", {}, "portal");
  auto reads_of = [&](const auto& request) {
    const int before = v.store.calls(StoreOp::kRead);
    request();
    return v.store.calls(StoreOp::kRead) - before;
  };
  CHECK(reads_of([&] { REQUIRE(v.service->GetDevice(alice, "mac-1").ok()); }) == 1);
  CHECK(reads_of([&] { REQUIRE(v.service->ListVersions(alice, "mac-1").ok()); }) == 1);
  CHECK(reads_of(
            [&] { REQUIRE(v.service->ListDevices(alice, std::nullopt, std::nullopt).ok()); }) == 1);
  CHECK(reads_of([&] { REQUIRE(v.service->CheckIn(mdm, "mac-1").ok()); }) == 1);
  CHECK(reads_of([&] {
          vault::DeviceSpec spec{
              "SN-1",  "Renamed", vault::Platform::kMacos, vault::Ownership::kCorporate,
              "alice", true};
          REQUIRE(v.service->PutDevice(mdm, "mac-1", spec).ok());
        }) == 1);
  // Device, current version, version asked for and quota window: one snapshot.
  CHECK(reads_of([&] {
          REQUIRE(v.service->Retrieve(HelpdeskCaller(), "mac-1", "locked out", 1u).ok());
        }) == 1);
  // Device, current and burned versions, last number and active master key: one snapshot.
  CHECK(reads_of([&] {
          REQUIRE(v.service->StoreKey(mdm, "mac-1", SecretBytes::CopyOf(kSecondKey), nullptr).ok());
        }) == 1);
}

}  // namespace
}  // namespace escrow::testing
