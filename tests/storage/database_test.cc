#include "storage/database.h"

#include <catch2/catch.hpp>
#include <sqlite3.h>

#include "storage/sqlite_error.h"
#include "storage/transaction.h"
#include "tests/storage/store_fixture.h"

namespace escrow::storage {
namespace {

using testing::StoreFixture;

constexpr Query kCreate{"create t", "CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)"};
constexpr Query kInsert{"insert t", "INSERT INTO t (k, v) VALUES (?1, ?2)"};
constexpr Query kCount{"count t", "SELECT count(*) FROM t"};

std::unique_ptr<Database> OpenScratch(const StoreFixture& f) {
  auto db = Database::Open({.path = f.path, .create = true});
  INFO(db.status().ToString());
  REQUIRE(db.ok());
  REQUIRE((*db)->Run(kCreate).ok());
  return std::move(db).value();
}

std::int64_t Count(Database& db) {
  auto stmt = db.Prepare(kCount);
  REQUIRE(stmt.ok());
  auto row = (*stmt)->Step();
  REQUIRE(row.ok());
  REQUIRE(*row);
  return (*stmt)->ColumnInt64(0);
}

Status Insert(Database& db, std::int64_t k, std::string_view v) {
  ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(kInsert));
  ESCROW_RETURN_IF_ERROR(stmt->BindInt64(1, k));
  ESCROW_RETURN_IF_ERROR(stmt->BindText(2, v));
  return stmt->Run();
}

TEST_CASE("FromSqlite maps each class of sqlite error", "[storage][database]") {
  CHECK(FromSqlite(SQLITE_OK, "x").ok());
  CHECK(FromSqlite(SQLITE_BUSY, "x").code() == Code::kUnavailable);
  CHECK(FromSqlite(SQLITE_LOCKED, "x").code() == Code::kUnavailable);
  CHECK(FromSqlite(SQLITE_FULL, "x").code() == Code::kUnavailable);
  CHECK(FromSqlite(SQLITE_READONLY, "x").code() == Code::kUnavailable);
  CHECK(FromSqlite(SQLITE_IOERR_FSYNC, "x").code() == Code::kUnavailable);
  CHECK(FromSqlite(SQLITE_CANTOPEN, "x").code() == Code::kUnavailable);
  CHECK(FromSqlite(SQLITE_CONSTRAINT_PRIMARYKEY, "x").code() == Code::kAlreadyExists);
  CHECK(FromSqlite(SQLITE_CONSTRAINT_UNIQUE, "x").code() == Code::kAlreadyExists);
  CHECK(FromSqlite(SQLITE_CONSTRAINT, "x").code() == Code::kAlreadyExists);
  CHECK(FromSqlite(SQLITE_CONSTRAINT_CHECK, "x").code() == Code::kInvalidArgument);
  CHECK(FromSqlite(SQLITE_CONSTRAINT_FOREIGNKEY, "x").code() == Code::kFailedPrecondition);
  CHECK(FromSqlite(SQLITE_CORRUPT, "x").code() == Code::kDataLoss);
  CHECK(FromSqlite(SQLITE_NOTADB, "x").code() == Code::kDataLoss);
  CHECK(FromSqlite(SQLITE_MISUSE, "x").code() == Code::kInternal);
  Status s = FromSqlite(SQLITE_BUSY, "append audit record");
  CHECK(s.message() == "append audit record: database is locked (sqlite 5)");
  CHECK(IsConnectionFatal(SQLITE_IOERR_WRITE));
  CHECK(IsConnectionFatal(SQLITE_FULL));
  CHECK_FALSE(IsConnectionFatal(SQLITE_BUSY));
  CHECK_FALSE(IsConnectionFatal(SQLITE_CONSTRAINT_UNIQUE));
}

// ctest runs each test case in a process of its own, so SQLite is first initialised here by
// Database::Open (sqlite3_config only works before that).
TEST_CASE("SQLite keeps no global memory statistics, whose mutex every allocation would take",
          "[storage][database]") {
  StoreFixture f;
  auto db = OpenScratch(f);
  for (int i = 0; i < 100; ++i) REQUIRE(Insert(*db, i, std::string(100, 'x')).ok());
  CHECK(Count(*db) == 100);
  // With statistics on, these count every byte SQLite holds (cache, schema, statements).
  CHECK(sqlite3_memory_used() == 0);
  CHECK(sqlite3_memory_highwater(0) == 0);
}

TEST_CASE("Statement binds, steps and reads back values", "[storage][database]") {
  StoreFixture f;
  auto db = OpenScratch(f);
  REQUIRE(Insert(*db, 1, "one").ok());
  REQUIRE(Insert(*db, 2, "").ok());
  Status dup = Insert(*db, 1, "again");
  CHECK(dup.code() == Code::kAlreadyExists);
  CHECK_THAT(dup.message(), Catch::StartsWith("insert t: ") && !Catch::Contains("again"));
  CHECK(Count(*db) == 2);

  SECTION("a cached statement is reused and comes back reset") {
    for (int i = 3; i < 50; ++i) REQUIRE(Insert(*db, i, "v").ok());
    CHECK(Count(*db) == 49);
  }
  SECTION("binding a parameter that does not exist is kInvalidArgument") {
    auto stmt = db->Prepare(kInsert);
    REQUIRE(stmt.ok());
    CHECK((*stmt)->BindInt64(3, std::int64_t{1}).code() == Code::kInvalidArgument);
  }
  SECTION("an out-of-range unsigned value is refused, not wrapped") {
    auto stmt = db->Prepare(kInsert);
    REQUIRE(stmt.ok());
    CHECK((*stmt)->BindUint64(1, ~std::uint64_t{0}).code() == Code::kInvalidArgument);
  }
  SECTION("bad SQL is kInternal naming the statement") {
    auto stmt = db->Prepare({"broken", "SELEKT 1"});
    REQUIRE_FALSE(stmt.ok());
    CHECK(stmt.status().code() == Code::kInternal);
    CHECK_THAT(stmt.status().message(), Catch::StartsWith("broken: "));
  }
}

TEST_CASE("Transaction rolls back in its destructor unless committed", "[storage][database]") {
  StoreFixture f;
  auto db = OpenScratch(f);
  {
    auto txn = Transaction::Begin(*db);
    REQUIRE(txn.ok());
    REQUIRE(Insert(*db, 1, "dropped").ok());
    CHECK(db->in_transaction());
  }
  CHECK_FALSE(db->in_transaction());
  CHECK(Count(*db) == 0);
  {
    auto txn = Transaction::Begin(*db);
    REQUIRE(txn.ok());
    REQUIRE(Insert(*db, 1, "kept").ok());
    REQUIRE(txn->Commit().ok());
  }
  CHECK(Count(*db) == 1);
}

TEST_CASE("Savepoint rolls back in its destructor unless released", "[storage][database]") {
  StoreFixture f;
  auto db = OpenScratch(f);
  auto txn = Transaction::Begin(*db);
  REQUIRE(txn.ok());
  REQUIRE(Insert(*db, 1, "outer").ok());
  {
    auto sp = Savepoint::Begin(*db, 1);
    REQUIRE(sp.ok());
    REQUIRE(Insert(*db, 2, "inner").ok());
  }
  CHECK(db->in_transaction());
  REQUIRE(txn->Commit().ok());
  CHECK(Count(*db) == 1);
}

TEST_CASE("A second writer waits out the busy timeout, then gets kUnavailable",
          "[storage][database]") {
  StoreFixture f;
  auto first = OpenScratch(f);
  auto second = Database::Open({.path = f.path, .busy_timeout_ms = 50});
  REQUIRE(second.ok());
  auto held = Transaction::Begin(*first);
  REQUIRE(held.ok());
  auto blocked = Transaction::Begin(**second);
  REQUIRE_FALSE(blocked.ok());
  CHECK(blocked.status().code() == Code::kUnavailable);
  CHECK_THAT(blocked.status().message(), Catch::Contains("begin transaction"));
}

}  // namespace
}  // namespace escrow::storage
