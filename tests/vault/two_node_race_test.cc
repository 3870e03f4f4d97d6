// Two vaultd nodes on one database (API.md "PostgreSQL and several nodes"): each node's
// per-device lock serialises only its own requests, so a request on one node can read a
// device, and another node change it, before the first commits.
#include <memory>
#include <optional>
#include <string>

#include <catch2/catch.hpp>

#include "tests/vault/fake_vault.h"

namespace escrow::vault {
namespace {

using testing::FakeVault;
using testing::HelpdeskCaller;
using testing::kFirstKey;
using testing::kSecondKey;

// Node b stores mac-1's second key after node a's helpdesk retrieval read the device (version
// 1 current) and before it commits: the retrieval must not write back a state record that
// says version 1 is current (every later request would then find the record disagreeing with
// the rows: 500 integrity_error, for good).
TEST_CASE("A retrieval on one node racing a store on another leaves the device readable",
          "[vault][service][nodes]") {
  FakeVault v;
  Result<std::unique_ptr<EscrowService>> b =
      EscrowService::Open(v.keys, v.store, v.clock, EscrowOptions{});
  REQUIRE(b.ok());
  const Caller mdm = Caller::Mdm("mdm");
  v.keys.RunBefore(testing::KeyOp::kDecrypt, [&] {
    REQUIRE((*b)->StoreKey(mdm, "mac-1", SecretBytes::CopyOf(kSecondKey), nullptr).ok());
  });
  Result<RetrievedKey> raced =
      v.service->Retrieve(HelpdeskCaller(), "mac-1", "ticket 1", std::nullopt);
  INFO(raced.status().message());
  REQUIRE(raced.ok());
  // Released is what is current when the release commits: the second key.
  CHECK(raced->version == 2);
  CHECK(raced->recovery_key.RevealSecretText() == kSecondKey);
  for (EscrowService* node : {v.service.get(), b->get()}) {
    Result<RetrievedKey> r = node->Retrieve(HelpdeskCaller(), "mac-1", "ticket 2", std::nullopt);
    INFO(r.status().message());
    REQUIRE(r.ok());
    CHECK(r->recovery_key.RevealSecretText() == kSecondKey);
    Result<RetrievedKey> old = node->Retrieve(HelpdeskCaller(), "mac-1", "ticket 3", 1U);
    INFO(old.status().message());
    REQUIRE(old.ok());
    CHECK(old->recovery_key.RevealSecretText() == kFirstKey);
  }
}

// The same race the other way round: node b releases the current key after node a's store
// read the device and before it commits.
TEST_CASE("A store on one node racing a retrieval on another leaves the device readable",
          "[vault][service][nodes]") {
  FakeVault v;
  Result<std::unique_ptr<EscrowService>> b =
      EscrowService::Open(v.keys, v.store, v.clock, EscrowOptions{});
  REQUIRE(b.ok());
  const Caller mdm = Caller::Mdm("mdm");
  v.keys.RunBefore(testing::KeyOp::kEncrypt, [&] {
    REQUIRE((*b)->Retrieve(HelpdeskCaller(), "mac-1", "ticket 1", std::nullopt).ok());
  });
  Result<StoreKeyResult> stored =
      v.service->StoreKey(mdm, "mac-1", SecretBytes::CopyOf(kSecondKey), nullptr);
  INFO(stored.status().message());
  REQUIRE(stored.ok());
  for (EscrowService* node : {v.service.get(), b->get()}) {
    Result<RetrievedKey> r = node->Retrieve(HelpdeskCaller(), "mac-1", "ticket 2", std::nullopt);
    INFO(r.status().message());
    REQUIRE(r.ok());
    CHECK(r->version == 2);
    CHECK(r->recovery_key.RevealSecretText() == kSecondKey);
  }
}

}  // namespace
}  // namespace escrow::vault
