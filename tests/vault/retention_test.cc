// Retention ([policy] keep_versions) on the fakes: older superseded versions are destroyed in
// the commit that stores a new one, audited in its record, never released afterwards, and a
// burned key stays burned without its version's ciphertext.

#include <string>

#include <catch2/catch.hpp>

#include "tests/vault/fake_vault.h"

namespace escrow::vault {
namespace {

using escrow::testing::FakeVault;
using escrow::testing::HelpdeskCaller;
using escrow::testing::kFirstKey;

Caller Mdm() { return Caller::Mdm("mdm"); }

// A valid macOS key, distinct for each n (0..9) and from kFirstKey.
std::string Key(int n) { return "ABCD-EFGH-IJKL-MNOP-QRST-UVW" + std::string(1, "ABCDEFGHJK"[n]); }

EscrowOptions Keep(int n) {
  EscrowOptions o;
  o.keep_versions = n;
  return o;
}

void Store(FakeVault& v, std::string_view key, std::uint32_t want_version) {
  Result<StoreKeyResult> r = v.service->StoreKey(Mdm(), "mac-1", SecretBytes::CopyOf(key), nullptr);
  INFO(r.status().ToString());
  REQUIRE(r.ok());
  CHECK(r->version == want_version);
}

std::vector<storage::KeyVersionRow> Rows(FakeVault& v) {
  std::vector<storage::KeyVersionRow> rows;
  REQUIRE(v.fake_store
              .Read([&](storage::ReadTxn& txn) -> Status {
                ESCROW_ASSIGN_OR_RETURN(rows, txn.versions().List("mac-1"));
                return Status::Ok();
              })
              .ok());
  return rows;
}

storage::AuditRow LastRecord(FakeVault& v, std::string_view action) {
  std::optional<storage::AuditRow> found;
  REQUIRE(v.fake_store
              .Read([&](storage::ReadTxn& txn) -> Status {
                ESCROW_ASSIGN_OR_RETURN(std::vector<storage::AuditRow> all,
                                        txn.audit().List(0, 100000, std::nullopt));
                for (const storage::AuditRow& r : all) {
                  if (r.action == action) found = r;
                }
                return Status::Ok();
              })
              .ok());
  REQUIRE(found.has_value());
  return *found;
}

std::vector<std::string> States(FakeVault& v) {
  std::vector<std::string> out;
  for (const auto& r : Rows(v)) out.emplace_back(storage::VersionStateName(r.state));
  return out;
}

TEST_CASE(
    "Retention keeps keep_versions versions, the active one counted, and destroys older "
    "ones in the store's own commit",
    "[vault][retention]") {
  FakeVault v(Keep(2));
  Store(v, Key(1), 2);
  CHECK(States(v) == std::vector<std::string>{"superseded", "active"});
  CHECK(LastRecord(v, "key.store").detail.find("destroyed") == std::string::npos);

  Store(v, Key(2), 3);
  CHECK(States(v) == std::vector<std::string>{"destroyed", "superseded", "active"});
  CHECK(LastRecord(v, "key.store").detail == "version=3 destroyed=1");
  const storage::KeyVersionRow gone = Rows(v)[0];
  CHECK(gone.ciphertext.empty());
  CHECK(gone.iv == Bytes(12, 0));
  CHECK(gone.tag == Bytes(16, 0));
  CHECK(gone.master_key_version == 0u);
  CHECK(gone.fingerprint.has_value());  // the key stays known

  Store(v, Key(3), 4);
  CHECK(States(v) == std::vector<std::string>{"destroyed", "destroyed", "superseded", "active"});
  CHECK(LastRecord(v, "key.store").detail == "version=4 destroyed=2");
  // Storing the current key again makes no version and destroys nothing.
  Store(v, Key(3), 4);
  CHECK(States(v).size() == 4);
}

TEST_CASE("Retention with keep_versions 1 destroys every superseded version, and 0 keeps all",
          "[vault][retention]") {
  SECTION("1") {
    FakeVault v(Keep(1));
    Store(v, Key(1), 2);
    CHECK(States(v) == std::vector<std::string>{"destroyed", "active"});
  }
  SECTION("0") {
    FakeVault v(Keep(0));
    for (int i = 1; i <= 4; ++i) Store(v, Key(i), static_cast<std::uint32_t>(i + 1));
    CHECK(States(v) == std::vector<std::string>{"superseded", "superseded", "superseded",
                                                "superseded", "active"});
  }
}

TEST_CASE("A destroyed version is never released, nor current", "[vault][retention]") {
  FakeVault v(Keep(2));
  Store(v, Key(1), 2);
  Store(v, Key(2), 3);
  Result<RetrievedKey> older = v.service->Retrieve(HelpdeskCaller(), "mac-1", "ticket 1", 1u);
  REQUIRE_FALSE(older.ok());
  CHECK(older.status().reason() == "recovery_key_not_found");
  Result<RetrievedKey> kept = v.service->Retrieve(HelpdeskCaller(), "mac-1", "ticket 2", 2u);
  INFO(kept.status().ToString());
  REQUIRE(kept.ok());
  CHECK(kept->recovery_key.RevealSecretText() == Key(1));
  Result<RetrievedKey> current =
      v.service->Retrieve(HelpdeskCaller(), "mac-1", "ticket 3", std::nullopt);
  REQUIRE(current.ok());
  CHECK(current->version == 3u);
  Result<std::vector<VersionInfo>> versions = v.service->ListVersions(HelpdeskCaller(), "mac-1");
  REQUIRE(versions.ok());
  REQUIRE(versions->size() == 3);
  CHECK((*versions)[0].state == VersionState::kDestroyed);
}

TEST_CASE("A burned key stays burned after its version is destroyed", "[vault][retention]") {
  FakeVault v(Keep(2));
  // Version 1 (kFirstKey) is released, so burned; storing another key clears the rotation.
  REQUIRE(v.service->Retrieve(HelpdeskCaller(), "mac-1", "locked out", std::nullopt).ok());
  Store(v, Key(1), 2);
  Store(v, Key(2), 3);
  REQUIRE(Rows(v)[0].state == VersionState::kDestroyed);
  CHECK_FALSE(v.Dump().find("rotation_pending=1") != std::string::npos);
  // The seen key, stored again: a new version, stored as burned, and a rotation pending.
  Store(v, kFirstKey, 4);
  CHECK(Rows(v)[3].burned);
  CHECK(LastRecord(v, "key.store").detail == "version=4 burned_key rotation_pending destroyed=2");
  CHECK(v.Dump().find("device rotation_pending=1") != std::string::npos);
}

TEST_CASE("A store whose destruction fails stores nothing", "[vault][retention]") {
  FakeVault v(Keep(1));
  const std::string before = v.Dump();
  v.store.FailOn(escrow::testing::StoreOp::kVersionDestroy, Status::Unavailable("disk gone"));
  Result<StoreKeyResult> r =
      v.service->StoreKey(Mdm(), "mac-1", SecretBytes::CopyOf(Key(1)), nullptr);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kUnavailable);
  const std::string after = v.Dump();
  CHECK(after.substr(0, after.find("audit head")) == before.substr(0, before.find("audit head")));
}

}  // namespace
}  // namespace escrow::vault
