// Retention ([policy] keep_versions) and GET /v1/devices/{id}/recovery-key/accesses against
// the real vaultd (API.md, "Closing the loop after a key was seen"): older versions are
// destroyed as new ones are stored, their ciphertext gone from the database file and its WAL
// (secure_delete), never released again; and who viewed a key is listed, newest first.
#include <filesystem>
#include <string>

#include <catch2/catch.hpp>

#include "tests/e2e/e2e_util.h"
#include "tests/support/temp_dir.h"

namespace escrow::e2e {
namespace {

// Keys of the macOS format, found nowhere else in the repository's tests.
constexpr const char* kKeys[] = {"RETA-2345-6789-ABCD-EFGH-JKLM", "RETB-2345-6789-ABCD-EFGH-JKLM",
                                 "RETC-2345-6789-ABCD-EFGH-JKLM", "RETD-2345-6789-ABCD-EFGH-JKLM"};

// The stored ciphertext of one version, as bytes, read with sqlite3 from the live database.
std::string Ciphertext(const VaultProcess& v, int version) {
  std::string hex;
  REQUIRE(Sh("sqlite3 -cmd '.timeout 10000' " + Quote(v.state() + "/vault.db") +
                 " \"SELECT hex(ciphertext) FROM key_versions WHERE device_id = 'mac1' AND "
                 "version = " +
                 std::to_string(version) + "\"",
             &hex) == 0);
  while (!hex.empty() && (hex.back() == '\n' || hex.back() == '\r')) hex.pop_back();
  std::string bytes;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    bytes.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return bytes;
}

// Whether `needle` occurs in the file at `path` (false if there is no such file).
bool FileHolds(const std::string& path, const std::string& needle) {
  if (!std::filesystem::exists(path)) return false;
  return escrow::testing::ReadFileBytes(path).find(needle) != std::string::npos;
}

void Store(const VaultProcess& v, const char* key, int want_version) {
  HttpResult r = v.Mdm("PUT", "/v1/devices/mac1/recovery-key", KeyBody(key, key));
  INFO(r.body);
  REQUIRE(r.status == 200);
  CHECK(Json(r.body).at("version").to_number<std::int64_t>() == want_version);
}

TEST_CASE("vaultd destroys versions past keep_versions, erased from the database file and its WAL",
          "[e2e][retention]") {
  VaultProcess v;
  Configure(v, "keep_versions", "2");
  REQUIRE(v.Start());
  v.Enrol("mac1", "alice@example.com", "corporate");
  const std::string helpdesk = v.Token("hd@example.com", "--roles helpdesk");
  Store(v, kKeys[0], 1);
  Store(v, kKeys[1], 2);
  const std::string first = Ciphertext(v, 1);
  const std::string second = Ciphertext(v, 2);
  REQUIRE(first.size() >= 16);
  REQUIRE(second.size() >= 16);

  // Two more versions: 1 and then 2 are destroyed, each in the store that went past the limit.
  Store(v, kKeys[2], 3);
  Store(v, kKeys[3], 4);
  HttpResult r = v.As(helpdesk, "GET", "/v1/devices/mac1/recovery-key/versions");
  REQUIRE(r.status == 200);
  const boost::json::array versions = Json(r.body).at("versions").as_array();
  REQUIRE(versions.size() == 4);
  CHECK(versions[0].at("state").as_string() == "destroyed");
  CHECK(versions[1].at("state").as_string() == "destroyed");
  CHECK(versions[2].at("state").as_string() == "superseded");
  CHECK(versions[3].at("state").as_string() == "active");
  CHECK(Ciphertext(v, 1).empty());

  // Never released again; the kept older version still is.
  r = v.As(helpdesk, "POST", "/v1/devices/mac1/recovery-key/retrieve",
           R"({"reason":"ticket 12","version":1})");
  CHECK(r.status == 404);
  CHECK(ErrCode(r) == "recovery_key_not_found");
  r = v.As(helpdesk, "POST", "/v1/devices/mac1/recovery-key/retrieve",
           R"({"reason":"ticket 13","version":3})");
  CHECK(r.status == 200);
  CHECK(r.body.find(kKeys[2]) != std::string::npos);

  // The audit trail names what was destroyed.
  const std::string admin = v.Token("admin@example.com", "--roles admin");
  r = v.As(admin, "GET", "/v1/audit?device_id=mac1&limit=1000");
  REQUIRE(r.status == 200);
  CHECK(r.body.find("version=3 destroyed=1") != std::string::npos);
  CHECK(r.body.find("version=4 destroyed=2") != std::string::npos);

  // After a checkpoint (a clean stop, then one more by hand), neither the file nor a WAL
  // holds the destroyed ciphertext; the current version's is there (the search works).
  const std::string current = Ciphertext(v, 4);
  REQUIRE(v.Stop() == 0);
  const std::string db = v.state() + "/vault.db";
  REQUIRE(Sh("sqlite3 " + Quote(db) + " 'PRAGMA wal_checkpoint(TRUNCATE)' > /dev/null") == 0);
  CHECK(FileHolds(db, current));
  for (const std::string& path : {db, db + "-wal", db + "-journal"}) {
    INFO(path);
    CHECK_FALSE(FileHolds(path, first));
    CHECK_FALSE(FileHolds(path, second));
  }
}

TEST_CASE("vaultd lists who viewed a device's key, newest first, to its owner and the helpdesk",
          "[e2e][accesses]") {
  VaultProcess v;
  REQUIRE(v.Start());
  const std::string owner = "alice@example.com";
  v.Enrol("mac1", owner, "corporate");
  const std::string alice = v.Token(owner);
  const std::string helpdesk = v.Token("hd@example.com", "--roles helpdesk");
  Store(v, kKeys[0], 1);
  const std::string path = "/v1/devices/mac1/recovery-key/accesses";

  HttpResult r = v.As(alice, "GET", path);
  REQUIRE(r.status == 200);
  CHECK(Json(r.body).at("accesses").as_array().empty());
  CHECK(Json(r.body).at("next_after").is_null());

  REQUIRE(v.As(helpdesk, "POST", "/v1/devices/mac1/recovery-key/retrieve",
               R"({"reason":"user locked out, ticket 7"})")
              .status == 200);
  REQUIRE(v.As(alice, "POST", "/v1/devices/mac1/recovery-key/retrieve", "{}").status == 200);

  for (const std::string& who : {alice, helpdesk}) {
    r = v.As(who, "GET", path);
    INFO(r.body);
    REQUIRE(r.status == 200);
    const boost::json::array accesses = Json(r.body).at("accesses").as_array();
    REQUIRE(accesses.size() == 2);
    CHECK(accesses[0].at("actor").as_string() == "user:" + owner);
    CHECK(accesses[0].at("by_owner") == true);
    CHECK(accesses[0].at("version") == 1);
    CHECK(accesses[1].at("actor").as_string() == "user:hd@example.com");
    CHECK(accesses[1].at("role").as_string() == "helpdesk");
    CHECK(accesses[1].at("reason").as_string() == "user locked out, ticket 7");
    CHECK(accesses[1].at("by_owner") == false);
    CHECK(accesses[1].at("at").is_string());
    CHECK(r.body.find(kKeys[0]) == std::string::npos);
  }
  // Paged: one at a time, by the sequence next_after gives.
  r = v.As(helpdesk, "GET", path + "?limit=1");
  REQUIRE(r.status == 200);
  const boost::json::value next = Json(r.body).at("next_after");
  REQUIRE(next.is_int64());
  CHECK(Json(r.body).at("accesses").as_array()[0].at("actor").as_string() == "user:" + owner);
  r = v.As(helpdesk, "GET", path + "?limit=1&after=" + std::to_string(next.as_int64()));
  REQUIRE(r.status == 200);
  CHECK(Json(r.body).at("accesses").as_array()[0].at("actor").as_string() == "user:hd@example.com");
  CHECK(Json(r.body).at("next_after").is_null());

  // The mdm may not ask; a bad limit is a 400; a stranger learns nothing.
  CHECK(v.Mdm("GET", path).status == 403);
  CHECK(v.As(helpdesk, "GET", path + "?limit=0").status == 400);
  CHECK(v.As(v.Token("mallory@example.com"), "GET", path).status == 404);
}

}  // namespace
}  // namespace escrow::e2e
