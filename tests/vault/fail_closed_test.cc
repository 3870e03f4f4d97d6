// Fail-closed audit proven with the fakes (STYLE §7): when the audit record cannot be
// written, or its group MAC cannot be made, a store and a retrieval through the escrow
// service return an error, release no plaintext and leave no partial change.

#include <string>

#include <catch2/catch.hpp>

#include "tests/vault/fake_vault.h"

namespace escrow::testing {
namespace {

// The ways the audit record of a release or a store can fail to be committed.
enum class AuditFault { kAppend, kMac };

void Inject(FakeVault& v, AuditFault fault) {
  if (fault == AuditFault::kAppend) {
    v.store.FailOn(StoreOp::kAuditAppend, Status::Unavailable("disk I/O error"));
  } else {
    v.keys.FailOn(KeyOp::kSign, Status::Unavailable("C_Sign: CKR_DEVICE_ERROR"));
  }
}

TEST_CASE("A retrieval releases no key and changes nothing when its audit record fails",
          "[vault][fail_closed]") {
  const AuditFault fault = GENERATE(AuditFault::kAppend, AuditFault::kMac);
  FakeVault v;
  const std::string before = v.Dump();
  Inject(v, fault);

  SECTION("the owner's retrieval") {
    Result<vault::RetrievedKey> key =
        v.service->Retrieve(vault::Caller::User("alice", {}, "portal"), "mac-1", "", std::nullopt);
    REQUIRE_FALSE(key.ok());
    CHECK(key.status().code() == Code::kUnavailable);
  }
  SECTION("helpdesk's retrieval, counted against a quota") {
    Result<vault::RetrievedKey> key =
        v.service->Retrieve(HelpdeskCaller(), "mac-1", "user locked out", std::nullopt);
    REQUIRE_FALSE(key.ok());
    CHECK(key.status().code() == Code::kUnavailable);
  }
  // Not burned, no rotation asked, no quota spent, no record.
  CHECK(v.Dump() == before);
  if (fault == AuditFault::kAppend) CHECK(v.store.calls(StoreOp::kAuditAppend) > 0);
  if (fault == AuditFault::kMac) CHECK(v.keys.calls(KeyOp::kSign) > 0);

  // Healed, the same retrieval releases the key: the failure was the audit's alone.
  v.store.Heal(StoreOp::kAuditAppend);
  v.keys.Heal(KeyOp::kSign);
  Result<vault::RetrievedKey> key =
      v.service->Retrieve(vault::Caller::User("alice", {}, "portal"), "mac-1", "", std::nullopt);
  REQUIRE(key.ok());
  CHECK(key->recovery_key.RevealSecretText() == "ABCD-EFGH-IJKL-MNOP-QRST-UVWX");
  CHECK(v.Dump() != before);
}

TEST_CASE("A store writes no key version and changes nothing when its audit record fails",
          "[vault][fail_closed]") {
  const AuditFault fault = GENERATE(AuditFault::kAppend, AuditFault::kMac);
  FakeVault v;
  const std::string before = v.Dump();
  Inject(v, fault);
  Result<vault::StoreKeyResult> stored = v.service->StoreKey(
      vault::Caller::Mdm("mdm"), "mac-1", SecretBytes::CopyOf(kSecondKey), nullptr);
  REQUIRE_FALSE(stored.ok());
  CHECK(stored.status().code() == Code::kUnavailable);
  CHECK(v.Dump() == before);  // no version 2, version 1 still active

  v.store.Heal(StoreOp::kAuditAppend);
  v.keys.Heal(KeyOp::kSign);
  stored = v.service->StoreKey(vault::Caller::Mdm("mdm"), "mac-1", SecretBytes::CopyOf(kSecondKey),
                               nullptr);
  REQUIRE(stored.ok());
  CHECK(stored->version == 2u);
}

TEST_CASE("A retrieval whose decrypt meets a lost HSM releases nothing and burns nothing",
          "[vault][fail_closed]") {
  FakeVault v;
  const std::string before = v.Dump();
  v.keys.FailOn(KeyOp::kDecrypt, Status::Unavailable("C_Decrypt: CKR_DEVICE_REMOVED"));
  Result<vault::RetrievedKey> key =
      v.service->Retrieve(HelpdeskCaller(), "mac-1", "user locked out", std::nullopt);
  REQUIRE_FALSE(key.ok());
  CHECK(key.status().code() == Code::kUnavailable);
  // Only the refusal's own audit record was added.
  const std::string after = v.Dump();
  CHECK(after.substr(0, after.find("audit head")) == before.substr(0, before.find("audit head")));
  CHECK(after.substr(after.find("quota")) == before.substr(before.find("quota")));
}

TEST_CASE("A read the store cannot serve fails the request before any release",
          "[vault][fail_closed]") {
  FakeVault v;
  const std::string before = v.Dump();
  v.store.FailOn(StoreOp::kVersionCurrent, Status::Unavailable("database is locked"));
  Result<vault::RetrievedKey> key =
      v.service->Retrieve(vault::Caller::User("alice", {}, "portal"), "mac-1", "", std::nullopt);
  REQUIRE_FALSE(key.ok());
  CHECK(key.status().code() == Code::kUnavailable);
  CHECK(v.keys.calls(KeyOp::kDecrypt) == 0);
  CHECK(v.Dump() == before);
}

}  // namespace
}  // namespace escrow::testing
