// A master-key rotation that `vaultctl` runs while vaultd nodes serve (docs/operations.md §3,
// §17): what a node's retrieval meets when the rotation acts between its read and its decrypt.
#include <optional>
#include <string>

#include <catch2/catch.hpp>

#include "tests/vault/fake_vault.h"
#include "vault/associated_data.h"
#include "vault/meta.h"

namespace escrow::vault {
namespace {

using testing::FakeVault;
using testing::HelpdeskCaller;
using testing::kFirstKey;

// What `master-key rotate --retire-old --yes` does, all at once: escrow-master-v2 made and
// active, every record sealed again under it, escrow-master-v1 destroyed.
void RotateAndRetire(FakeVault& v) {
  REQUIRE(v.fake_keys.GenerateKey(hsm::KeyRole::kMaster, 2, false).ok());
  REQUIRE(
      v.fake_store
          .Write([&](storage::WriteTxn& txn) -> Status {
            ESCROW_RETURN_IF_ERROR(WriteMetaVersion(txn, MetaKey::kActiveMasterKeyVersion, 2));
            ESCROW_ASSIGN_OR_RETURN(std::optional<storage::KeyVersionRow> row,
                                    txn.versions().Get("mac-1", 1));
            REQUIRE(row.has_value());
            REQUIRE(row->master_key_version == 1);
            ESCROW_ASSIGN_OR_RETURN(const Bytes old_aad, AadForRow(*row, 1));
            ESCROW_ASSIGN_OR_RETURN(
                SecretBytes plain,
                v.fake_keys.Decrypt(1, hsm::Sealed{row->iv, row->ciphertext, row->tag}, old_aad));
            ESCROW_ASSIGN_OR_RETURN(const Bytes new_aad, AadForRow(*row, 2));
            ESCROW_ASSIGN_OR_RETURN(hsm::Sealed sealed,
                                    v.fake_keys.Encrypt(2, plain.RevealSecret(), new_aad));
            return txn.versions().ReplaceSealed("mac-1", 1, 1, 2, sealed.iv, sealed.ciphertext,
                                                sealed.tag);
          })
          .ok());
  REQUIRE(v.fake_keys.DestroyKey(hsm::KeyRole::kMaster, 1).ok());
}

// The retrieval read mac-1's version 1 sealed under v1; before it decrypts, the rotation seals
// the row again under v2 and destroys v1. The record is intact: it is released, not reported
// as one that failed its integrity check.
TEST_CASE(
    "A retrieval that read a record before a rotation with --retire-old re-sealed it "
    "opens it as it is now",
    "[vault][service][rotation]") {
  FakeVault v;
  v.keys.RunBefore(testing::KeyOp::kDecrypt, [&] { RotateAndRetire(v); });
  Result<RetrievedKey> r =
      v.service->Retrieve(HelpdeskCaller(), "mac-1", "ticket 12", std::nullopt);
  CHECK(v.keys.calls(testing::KeyOp::kDecrypt) >= 1);  // the hook ran: the race was real
  INFO(r.status().message());
  REQUIRE(r.ok());
  CHECK(r->recovery_key.RevealSecretText() == kFirstKey);
  CHECK(v.Dump().find("mkv=2") != std::string::npos);
}

}  // namespace
}  // namespace escrow::vault
