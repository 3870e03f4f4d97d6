#include <boost/json.hpp>

#include <filesystem>
#include <sstream>

#include "tests/tools/ctl_fixture.h"

namespace escrow::testing {
namespace {

namespace fs = std::filesystem;

void Sql(const CtlFixture& f, const std::string& sql) {
  // An attacker with the file drops the append-only triggers first.
  REQUIRE(RunCommand("sqlite3 " + ShellQuote(f.db_path()) +
                     " \"DROP TRIGGER IF EXISTS audit_no_update; "
                     "DROP TRIGGER IF EXISTS audit_no_delete; " + sql + "\"") == 0);
}

TEST_CASE("audit verify prints only the head, and catches edits, truncation and rollback",
          "[tools][ctl][audit][hsm]") {
  CtlFixture f;
  f.Open();
  f.Populate(0, 10);
  for (std::size_t i = 0; i < 10; ++i) REQUIRE(f.Retrieve(i) == CtlFixture::KeyFor(i));
  f.Close();

  CtlRun ok = f.Ctl("audit verify");
  INFO(ok.err);
  REQUIRE(ok.exit_code == 0);
  // Exactly one line, SEQ:HASH in lowercase hex.
  REQUIRE(ok.out.size() > 66);
  CHECK(ok.out.back() == '\n');
  CHECK(std::count(ok.out.begin(), ok.out.end(), '\n') == 1);
  const std::string head = ok.out.substr(0, ok.out.size() - 1);
  const std::size_t colon = head.find(':');
  REQUIRE(colon != std::string::npos);
  CHECK(head.substr(0, colon) == "12");  // init, the upgrade of the populated rows, 10 releases
  CHECK(head.substr(colon + 1).find_first_not_of("0123456789abcdef") == std::string::npos);
  CHECK(head.size() - colon - 1 == 64);
  CHECK(f.Ctl("audit verify", "--expect-head " + head).exit_code == 0);

  SECTION("an edited record is named") {
    Sql(f, "UPDATE audit SET actor = 'nobody' WHERE seq = 4");
    CtlRun r = f.Ctl("audit verify");
    CHECK(r.exit_code == 1);
    CHECK(r.out.empty());
    CHECK(r.err.find("record 4") != std::string::npos);
  }
  SECTION("a truncated log is caught with --expect-head") {
    // Cut back to the end of an earlier group: the remaining head is sealed and verifies
    // by itself; only the head kept outside the vault shows the loss.
    Sql(f, "DELETE FROM audit WHERE seq > (SELECT MAX(seq) FROM audit WHERE seq < 12 AND mac IS NOT NULL)");
    CtlRun alone = f.Ctl("audit verify");
    CHECK(alone.exit_code == 0);
    CtlRun r = f.Ctl("audit verify", "--expect-head " + head);
    CHECK(r.exit_code == 1);
    CHECK(r.out.empty());
    CHECK(r.err.find("truncated or rolled back") != std::string::npos);
  }
  SECTION("a malformed --expect-head is a usage error") {
    CHECK(f.Ctl("audit verify", "--expect-head 12:XYZ").exit_code == 2);
  }
}

TEST_CASE("audit export writes one JSON object per record for a SIEM", "[tools][ctl][audit][hsm]") {
  CtlFixture f;
  f.Open();
  f.Populate(0, 3);
  for (std::size_t i = 0; i < 3; ++i) REQUIRE(f.Retrieve(i) == CtlFixture::KeyFor(i));
  f.Close();
  CtlRun r = f.Ctl("audit export", "--format jsonl");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  std::istringstream lines(r.out);
  std::string line;
  std::uint64_t seq = 0;
  while (std::getline(lines, line)) {
    const boost::json::object o = boost::json::parse(line).as_object();
    CHECK(o.at("seq").as_int64() == static_cast<std::int64_t>(++seq));
    for (const char* key : {"time", "actor", "role", "action", "device_id", "outcome", "reason",
                            "detail", "hash"}) {
      CHECK(o.at(key).is_string());
    }
    CHECK(o.at("sealed").is_bool());
    CHECK(o.at("time").as_string().ends_with("Z"));
    CHECK(o.at("hash").as_string().size() == 64);
  }
  CHECK(seq == 5);  // init, the upgrade, three releases
  CtlRun future = f.Ctl("audit export", "--since 2200-01-01T00:00:00Z --format jsonl");
  CHECK(future.exit_code == 0);
  CHECK(future.out.empty());
  CHECK(f.Ctl("audit export", "--format csv").exit_code == 2);
  CHECK(f.Ctl("audit export", "--since yesterday --format jsonl").exit_code == 2);
}

TEST_CASE("db backup takes an online copy that restores and reads", "[tools][ctl][db][hsm]") {
  CtlFixture f;
  f.Open();
  f.Populate(0, 40);
  const std::string copy = f.dir().str() + "/copy.db";
  CtlRun r = f.Ctl("db backup", "--out " + ShellQuote(copy));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const std::size_t at = r.out.find("audit head in the backup: ");
  REQUIRE(at != std::string::npos);
  const std::string head = r.out.substr(at + 26, r.out.find('\n', at) - at - 26);
  CHECK(FileMode(copy) == 0600);
  CHECK(f.Ctl("db backup", "--out " + ShellQuote(copy)).exit_code == 1);  // never overwrites
  CtlRun status = f.Ctl("status");
  CHECK(status.out.find("last db backup: ") != std::string::npos);
  CHECK(status.out.find(head) != std::string::npos);

  // Records written after the backup are lost with it; everything in it reads back.
  f.Populate(40, 5);
  f.Close();
  for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(f.db_path() + suffix);
  fs::copy_file(copy, f.db_path());
  f.Open();
  for (std::size_t i = 0; i < 40; ++i) CHECK(f.Retrieve(i) == CtlFixture::KeyFor(i));
  CHECK(f.Retrieve(41).find("error") == 0);
  f.Close();
  // The restored chain verifies and contains the head recorded at backup time.
  CHECK(f.Ctl("audit verify", "--expect-head " + head).exit_code == 0);
}

}  // namespace
}  // namespace escrow::testing
