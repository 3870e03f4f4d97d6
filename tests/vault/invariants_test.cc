// DESIGN.md's invariants 1, 2 and 4 against a real token and a real database file.

#include <catch2/catch.hpp>

#include <filesystem>

#include "tests/support/temp_dir.h"
#include "tests/vault/vault_fixture.h"

namespace escrow::vault {
namespace {

using testing::Auditor;
using testing::Helpdesk;
using testing::Key;
using testing::Mdm;
using testing::User;
using testing::VaultFixture;

// Every file of the database: main file, WAL and shared memory.
std::string AllDatabaseBytes(const std::string& db) {
  std::string all;
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
    if (std::filesystem::exists(db + suffix)) all += testing::ReadFileBytes(db + suffix);
  }
  return all;
}

TEST_CASE("No plaintext key reaches the database, its WAL or the audit trail",
          "[vault][invariant]") {
  VaultFixture f;
  EscrowService& s = f.service();
  f.Enrol("mac-1", "alice");
  f.Enrol("win-1", "alice", Ownership::kCorporate, Platform::kWindows);
  f.Enrol("lnx-1", "alice", Ownership::kCorporate, Platform::kLinux);
  const std::string mac_typed = "qwer7yuiopasdfghjklzxcvb";
  const std::string mac_norm = "QWER-7YUI-OPAS-DFGH-JKLZ-XCVB";
  const std::string win = "111111-222222-333333-444444-555555-666666-000011-000022";
  const std::string luks = "Pass phrase with ümlauts 1234";
  SecretBytes a = Key(mac_typed), b = Key(win), c = Key(luks);
  REQUIRE(s.StoreKey(User("alice"), "mac-1", a, &a).ok());
  REQUIRE(s.StoreKey(User("alice"), "win-1", b, &b).ok());
  REQUIRE(s.StoreKey(User("alice"), "lnx-1", c, &c).ok());
  REQUIRE(s.Retrieve(Helpdesk(), "mac-1", "ticket", std::nullopt).ok());
  REQUIRE(s.Retrieve(User("alice"), "lnx-1", "", std::nullopt).ok());
  // Scan while the WAL still holds the pages, and again after a checkpoint and close.
  for (int pass = 0; pass < 2; ++pass) {
    const std::string bytes = AllDatabaseBytes(f.db_path());
    REQUIRE(bytes.size() > 4096);
    for (const std::string& secret :
         {mac_typed, mac_norm, std::string("QWER7YUIOPASDFGHJKLZXCVB"), win,
          std::string("111111222222333333"), luks, std::string("ümlauts 1234")}) {
      INFO("pass " << pass << ": " << secret);
      CHECK(bytes.find(secret) == std::string::npos);
    }
    f.Close();
    f.Open();
  }
}

TEST_CASE("Ciphertext swapped between two devices' rows never decrypts", "[vault][invariant]") {
  VaultFixture f;
  EscrowService& s = f.service();
  f.Enrol("mac-1", "alice");
  f.Enrol("mac-2", "alice");
  SecretBytes k1 = Key("AAAA-BBBB-CCCC-DDDD-EEEE-FFFF"), k2 = Key("GGGG-HHHH-JJJJ-KKKK-LLLL-MMMM");
  REQUIRE(s.StoreKey(User("alice"), "mac-1", k1, &k1).ok());
  REQUIRE(s.StoreKey(User("alice"), "mac-2", k2, &k2).ok());
  f.Close();
  f.Sql(
      "CREATE TEMP TABLE t AS SELECT device_id, iv, ciphertext, tag FROM key_versions;"
      "UPDATE key_versions SET iv=(SELECT iv FROM t WHERE t.device_id<>key_versions.device_id),"
      " ciphertext=(SELECT ciphertext FROM t WHERE t.device_id<>key_versions.device_id),"
      " tag=(SELECT tag FROM t WHERE t.device_id<>key_versions.device_id);");
  f.Open();
  for (const char* id : {"mac-1", "mac-2"}) {
    Result<RetrievedKey> r = f.service().Retrieve(User("alice"), id, "", std::nullopt);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Code::kDataLoss);
    CHECK(r.status().reason() == "integrity_error");
  }
  // And it was audited.
  Result<AuditPage> page = f.service().ListAudit(Auditor(), std::string_view("mac-1"), 0, 1000);
  REQUIRE(page.ok());
  bool audited = false;
  for (const auto& r : page->records) audited |= r.event.reason == "integrity_error";
  CHECK(audited);
}

TEST_CASE("A key ID swapped between rows, added to a row or taken from one never decrypts",
          "[vault][invariant][key_id]") {
  const char* edits[] = {
      // Swapped between the two devices' versions.
      "CREATE TEMP TABLE t AS SELECT device_id, key_id FROM key_versions;"
      "UPDATE key_versions SET key_id=(SELECT key_id FROM t"
      " WHERE t.device_id<>key_versions.device_id AND t.key_id IS NOT NULL)"
      " WHERE key_id IS NOT NULL;",
      // Taken from the versions that have one (they would read as format 1).
      "UPDATE key_versions SET key_id=NULL;",
      // Given to every version (format-1 rows would read as format 2).
      "UPDATE key_versions SET key_id='1A2B3C4D-0000-0000-0000-000000000001';",
  };
  for (const char* edit : edits) {
    INFO(edit);
    VaultFixture f;
    f.Enrol("win-1", "alice", Ownership::kCorporate, Platform::kWindows);
    f.Enrol("win-2", "alice", Ownership::kCorporate, Platform::kWindows);
    f.Enrol("mac-1", "alice");
    SecretBytes w1 = Key("000000-000011-719895-123453-000022-111111-222222-333333");
    SecretBytes w2 = Key("111111-222222-333333-444444-555555-666666-000011-000022");
    SecretBytes m1 = Key("AAAA-BBBB-CCCC-DDDD-EEEE-FFFF");
    StoreKeyExtras id1, id2;
    id1.key_id = "{1a2b3c4d-0000-0000-0000-000000000001}";
    id2.key_id = "1A2B3C4D-0000-0000-0000-000000000002";
    REQUIRE(f.service().StoreKey(User("alice"), "win-1", w1, &w1, id1).ok());
    REQUIRE(f.service().StoreKey(User("alice"), "win-2", w2, &w2, id2).ok());
    REQUIRE(f.service().StoreKey(User("alice"), "mac-1", m1, &m1).ok());
    // Before the edit all three open.
    REQUIRE(f.service().Retrieve(Helpdesk(), "win-1", "ticket", 1u).ok());
    REQUIRE(f.service().Retrieve(Helpdesk(), "win-2", "ticket", 1u).ok());
    REQUIRE(f.service().Retrieve(Helpdesk(), "mac-1", "ticket", 1u).ok());
    f.Close();
    f.Sql(edit);
    f.Open();
    int failed_closed = 0;
    for (const char* id : {"win-1", "win-2", "mac-1"}) {
      Result<RetrievedKey> r = f.service().Retrieve(Helpdesk(), id, "ticket", 1u);
      if (r.ok()) continue;  // a row the edit left alone
      CHECK(r.status().code() == Code::kDataLoss);
      CHECK(r.status().reason() == "integrity_error");
      ++failed_closed;
    }
    // Every row the edit changed fails, and some row was changed.
    CHECK(failed_closed >= 1);
    if (std::string(edit).find("CREATE TEMP") != std::string::npos) CHECK(failed_closed == 2);
    if (std::string(edit).find("NULL;") != std::string::npos) CHECK(failed_closed == 2);
    if (std::string(edit).find("000000000001';") != std::string::npos) CHECK(failed_closed == 2);
  }
}

TEST_CASE("A version row whose owner, ownership or versions were edited never decrypts",
          "[vault][invariant]") {
  const char* edits[] = {
      "UPDATE key_versions SET owner='mallory'; UPDATE devices SET owner='mallory';",
      "UPDATE key_versions SET ownership='personal'; UPDATE devices SET ownership='personal';",
      "UPDATE key_versions SET kind='linux'; UPDATE devices SET platform='linux';",
      "UPDATE key_versions SET version=7;",
      "UPDATE key_versions SET device_id='mac-9';",
  };
  for (const char* edit : edits) {
    INFO(edit);
    VaultFixture f;
    f.Enrol("mac-1", "alice");
    f.Enrol("mac-9", "alice");
    SecretBytes k = Key("AAAA-BBBB-CCCC-DDDD-EEEE-FFFF");
    REQUIRE(f.service().StoreKey(User("alice"), "mac-1", k, &k).ok());
    f.Close();
    f.Sql(std::string("PRAGMA foreign_keys=OFF;") + edit);
    f.Open();
    for (const char* id : {"mac-1", "mac-9"}) {
      for (const vault::Caller& who : {User("alice"), User("mallory"), Helpdesk()}) {
        Result<RetrievedKey> r = f.service().Retrieve(who, id, "ticket", std::nullopt);
        if (!r.ok()) {
          // Not found or denied is fine; what must never happen is a released key.
          CHECK(r.status().code() != Code::kOk);
        }
        CHECK_FALSE(r.ok());
        Result<RetrievedKey> v = f.service().Retrieve(Helpdesk(), id, "ticket", 7u);
        CHECK_FALSE(v.ok());
      }
    }
  }
}

TEST_CASE("If the audit record cannot be written, no key is released", "[vault][invariant]") {
  VaultFixture f;
  f.Enrol("mac-1", "alice");
  SecretBytes k = Key("AAAA-BBBB-CCCC-DDDD-EEEE-FFFF");
  REQUIRE(f.service().StoreKey(User("alice"), "mac-1", k, &k).ok());
  f.Close();
  f.Sql("CREATE TRIGGER no_audit BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'disk'); END;");
  f.Open();
  Result<RetrievedKey> r = f.service().Retrieve(User("alice"), "mac-1", "", std::nullopt);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kUnavailable);
  // Nothing else changed either: the version was not marked released.
  CHECK_FALSE(f.service().GetDevice(Mdm(), "mac-1").ok());  // reads are audited too: refused
  f.Close();
  f.Sql("DROP TRIGGER no_audit;");
  f.Open();
  Result<Device> d = f.service().GetDevice(Mdm(), "mac-1");
  REQUIRE(d.ok());
  CHECK_FALSE(d->rotation_pending);
  CHECK_FALSE(storage::ReadValue(f.store(),
                                 [](storage::ReadTxn& txn) { return txn.versions().List("mac-1"); })
                  ->front()
                  .burned);
}

}  // namespace
}  // namespace escrow::vault
