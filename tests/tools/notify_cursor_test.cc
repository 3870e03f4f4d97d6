#include "tools/notify_cursor.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <catch2/catch.hpp>

#include "tests/support/temp_dir.h"

namespace escrow::tools {
namespace {

TEST_CASE("Cursor starts at 0, stores durably and reads back after reopening", "[tools][notify]") {
  testing::TempDir dir;
  const std::string state = dir.str() + "/notify";
  {
    Result<Cursor> c = Cursor::Open(state);
    REQUIRE(c.ok());
    CHECK(c->value() == 0);
    struct stat st {};
    REQUIRE(::stat(state.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0700);
    REQUIRE(c->Store(41).ok());
    REQUIRE(c->Store(18446744073709551615ULL).ok());
    CHECK(c->value() == 18446744073709551615ULL);
  }
  CHECK(testing::ReadFileBytes(state + "/cursor") == "18446744073709551615\n");
  CHECK_FALSE(std::filesystem::exists(state + "/cursor.tmp"));
  Result<Cursor> again = Cursor::Open(state);
  REQUIRE(again.ok());
  CHECK(again->value() == 18446744073709551615ULL);
}

TEST_CASE("Cursor refuses a second relay on the same state until the first is gone",
          "[tools][notify]") {
  testing::TempDir dir;
  const std::string state = dir.str() + "/notify";
  {
    Result<Cursor> first = Cursor::Open(state);
    REQUIRE(first.ok());
    Result<Cursor> second = Cursor::Open(state);
    REQUIRE_FALSE(second.ok());
    CHECK(second.status().code() == Code::kFailedPrecondition);
    CHECK(second.status().message() == "another vault-notify is running on " + state);
  }
  CHECK(Cursor::Open(state).ok());
}

TEST_CASE("Cursor refuses a damaged file instead of starting over or skipping", "[tools][notify]") {
  testing::TempDir dir;
  const std::string state = dir.str() + "/notify";
  REQUIRE(std::filesystem::create_directory(state));
  for (const char* bad : {"", "\n", "12x\n", "-1\n", "99999999999999999999\n", " 5\n"}) {
    std::ofstream(state + "/cursor", std::ios::trunc) << bad;
    Result<Cursor> c = Cursor::Open(state);
    INFO(bad);
    REQUIRE_FALSE(c.ok());
    CHECK(c.status().code() == Code::kDataLoss);
  }
  std::ofstream(state + "/cursor", std::ios::trunc) << "7";  // no newline is fine
  CHECK(Cursor::Open(state)->value() == 7);
}

TEST_CASE("Cursor keeps the old value when a crash interrupts a store", "[tools][notify]") {
  testing::TempDir dir;
  const std::string state = dir.str() + "/notify";
  {
    Result<Cursor> c = Cursor::Open(state);
    REQUIRE(c.ok());
    REQUIRE(c->Store(10).ok());
  }
  // A crash between writing the temp file and the rename leaves cursor.tmp behind: the cursor
  // still says 10 (the batch after it is re-sent, never skipped), and the next store works.
  std::ofstream(state + "/cursor.tmp", std::ios::trunc) << "2";
  Result<Cursor> c = Cursor::Open(state);
  REQUIRE(c.ok());
  CHECK(c->value() == 10);
  REQUIRE(c->Store(11).ok());
  CHECK(testing::ReadFileBytes(state + "/cursor") == "11\n");
}

TEST_CASE("Cursor store fails with kUnavailable when the state cannot be written",
          "[tools][notify]") {
  if (::geteuid() == 0) return;  // root writes anyway
  testing::TempDir dir;
  const std::string state = dir.str() + "/notify";
  Result<Cursor> c = Cursor::Open(state);
  REQUIRE(c.ok());
  REQUIRE(c->Store(3).ok());
  REQUIRE(::chmod(state.c_str(), 0500) == 0);
  const Status s = c->Store(4);
  REQUIRE(::chmod(state.c_str(), 0700) == 0);
  CHECK(s.code() == Code::kUnavailable);
  CHECK(c->value() == 3);
  CHECK(testing::ReadFileBytes(state + "/cursor") == "3\n");
}

}  // namespace
}  // namespace escrow::tools
