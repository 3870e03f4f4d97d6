#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <string>
#include <thread>

#include <catch2/catch.hpp>

#include "storage/migrations.h"
#include "storage/pg_error.h"
#include "storage/pg_migrations.h"
#include "storage/pg_url.h"
#include "storage/store.h"
#include "tests/storage/store_test_rows.h"
#include "tests/support/postgres_server.h"
#include "tests/support/temp_dir.h"

namespace escrow::storage {
namespace {

using escrow::testing::PostgresServer;
using testing::MakeAudit;
using testing::MakeDevice;
using testing::MustWrite;

std::string Param(const PostgresTarget& target, std::string_view key) {
  for (const auto& [k, v] : target.params) {
    if (k == key) return v;
  }
  return "<none>";
}

TEST_CASE("A PostgreSQL URL over TCP needs verify-full and holds no password",
          "[storage][postgres][url]") {
  auto ok = ParsePostgresUrl("postgresql://vault@db.example:5433/escrow?sslmode=verify-full");
  REQUIRE(ok.ok());
  CHECK_FALSE(ok->unix_socket);
  CHECK(Param(*ok, "host") == "db.example");
  CHECK(Param(*ok, "port") == "5433");
  CHECK(Param(*ok, "dbname") == "escrow");
  CHECK(Param(*ok, "user") == "vault");
  CHECK(Param(*ok, "sslmode") == "verify-full");
  CHECK(Param(*ok, "gssencmode") == "disable");
  CHECK(Param(*ok, "passfile") == "/dev/null/none");
  CHECK(Param(*ok, "password") == "<none>");

  for (const char* refused : {
           "postgresql://vault@db.example/escrow",                          // no TLS
           "postgresql://vault@db.example/escrow?sslmode=require",          // no verification
           "postgresql://vault@db.example/escrow?sslmode=verify-ca",        // no host name check
           "postgresql://vault:secret@db.example/escrow?sslmode=verify-full",
           "postgresql://vault@db.example/escrow?sslmode=verify-full&password=secret",
           "postgresql://vault@db.example/escrow?sslmode=verify-full&passfile=/x",
           "postgresql://vault@db.example/escrow?sslmode=verify-full&options=-csynchronous_commit%3Doff",
           "postgresql://vault@db.example:0/escrow?sslmode=verify-full",
           "postgresql://vault@db.example:99999/escrow?sslmode=verify-full",
           "postgresql://vault@db.example/?sslmode=verify-full",             // no database
           "postgresql://vault@%2Fsock,db.example/escrow",                   // one host over TCP
           "mysql://vault@db.example/escrow",
           "postgresql://vault@%2Ftmp%ZZ/escrow",
       }) {
    INFO(refused);
    auto parsed = ParsePostgresUrl(refused);
    CHECK(parsed.status().code() == Code::kInvalidArgument);
    // The refusal never repeats a password.
    CHECK(parsed.status().message().find("secret") == std::string::npos);
  }
}

TEST_CASE("A PostgreSQL URL on a Unix socket needs no TLS", "[storage][postgres][url]") {
  auto encoded = ParsePostgresUrl("postgresql://vault@%2Fvar%2Frun%2Fpostgresql/escrow");
  REQUIRE(encoded.ok());
  CHECK(encoded->unix_socket);
  CHECK(Param(*encoded, "host") == "/var/run/postgresql");
  CHECK(Param(*encoded, "sslmode") == "disable");
  auto query = ParsePostgresUrl("postgresql://vault@/escrow?host=/tmp/pg&port=5433");
  REQUIRE(query.ok());
  CHECK(query->unix_socket);
  CHECK(Param(*query, "host") == "/tmp/pg");
  CHECK(Param(*query, "port") == "5433");
  // No host at all: Debian's socket directory, set explicitly so that PGHOST cannot move it.
  auto bare = ParsePostgresUrl("postgresql:///escrow");
  REQUIRE(bare.ok());
  CHECK(Param(*bare, "host") == "/var/run/postgresql");
  // A TCP host given as ?host= is TCP.
  CHECK(ParsePostgresUrl("postgresql://vault@/escrow?host=db.example").status().code() ==
        Code::kInvalidArgument);
}

TEST_CASE("The database password file must be 0600", "[storage][postgres][url]") {
  escrow::testing::TempDir dir;
  const std::string path = (dir.path() / "pw").string();
  {
    std::ofstream out(path);
    out << "s3cret\n";
  }
  ::chmod(path.c_str(), 0600);
  auto pw = ReadPasswordFile(path);
  REQUIRE(pw.ok());
  CHECK(*pw == "s3cret");
  ::chmod(path.c_str(), 0640);
  CHECK(ReadPasswordFile(path).status().code() == Code::kFailedPrecondition);
  ::chmod(path.c_str(), 0604);
  CHECK(ReadPasswordFile(path).status().code() == Code::kFailedPrecondition);
  CHECK(ReadPasswordFile((dir.path() / "missing").string()).status().code() ==
        Code::kUnavailable);
}

TEST_CASE("SQLSTATEs map to the Status codes txn.h documents", "[storage][postgres][error]") {
  CHECK(FromSqlState("23505", "op", "", "devices_pkey").code() == Code::kAlreadyExists);
  CHECK(FromSqlState("23503", "op", "", "fk").code() == Code::kFailedPrecondition);
  CHECK(FromSqlState("23514", "op", "", "ck").code() == Code::kInvalidArgument);
  CHECK(FromSqlState("23502", "op", "", "").code() == Code::kInvalidArgument);
  CHECK(FromSqlState("22P02", "op", "invalid input syntax: \"secret\"", "").code() ==
        Code::kInvalidArgument);
  CHECK(FromSqlState("40001", "op", "", "").code() == Code::kUnavailable);
  CHECK(FromSqlState("40P01", "op", "", "").code() == Code::kUnavailable);
  CHECK(FromSqlState("55P03", "op", "", "").code() == Code::kUnavailable);
  CHECK(FromSqlState("08006", "op", "", "").code() == Code::kUnavailable);
  CHECK(FromSqlState("57P01", "op", "", "").code() == Code::kUnavailable);
  CHECK(FromSqlState("53100", "op", "", "").code() == Code::kUnavailable);
  CHECK(FromSqlState("25006", "op", "", "").code() == Code::kUnavailable);
  CHECK(FromSqlState("XX001", "op", "", "").code() == Code::kDataLoss);
  CHECK(FromSqlState("42601", "op", "", "").code() == Code::kInternal);
  CHECK(FromSqlState("", "op", "no connection", "").code() == Code::kUnavailable);
  // Class 22 and 23 messages may quote a value: only the constraint's name is kept.
  const Status quoted = FromSqlState("22P02", "op", "invalid input syntax: \"secret\"", "");
  CHECK(quoted.message().find("secret") == std::string::npos);
  CHECK(FromSqlState("23505", "insert", "dup", "devices_pkey").message() ==
        "insert: unique violation of devices_pkey (sqlstate 23505)");
}

TEST_CASE("PostgreSQL migrations are SQLite's, translated one for one",
          "[storage][postgres][migrations]") {
  CHECK(PgLatestSchemaVersion() == LatestSchemaVersion());
  CHECK(PgMigrationScripts().size() == Migrations().size());
}

std::string MustCreateDatabase(PostgresServer& server) {
  Result<std::string> created = server.CreateEmptyDatabase();
  INFO(created.status().ToString());
  REQUIRE(created.ok());
  return *created;
}

// A fresh, empty database on the test run's server and a store opened on it.
struct PgFixture {
  PostgresServer& server = PostgresServer::Shared();
  std::string name = MustCreateDatabase(server);

  StoreOptions Options(bool create = true) const {
    StoreOptions options;
    options.url = server.Url(name);
    options.create = create;
    options.read_connections = 2;
    return options;
  }
  std::unique_ptr<Store> Open(bool create = true) const {
    Result<std::unique_ptr<Store>> store = Store::Open(Options(create));
    INFO(store.status().ToString());
    REQUIRE(store.ok());
    return std::move(store).value();
  }
};

TEST_CASE_METHOD(PgFixture, "A PostgreSQL store migrates an empty database to the latest schema",
                 "[storage][postgres][migrations]") {
  CHECK(Store::Open(Options(/*create=*/false)).status().code() == Code::kFailedPrecondition);
  auto store = Open();
  CHECK(store->schema_version() == LatestSchemaVersion());
  store.reset();
  // Reopening migrates nothing and keeps the version.
  CHECK(Open(/*create=*/false)->schema_version() == LatestSchemaVersion());
  CHECK(Open()->IntegrityCheck().ok());
}

TEST_CASE_METHOD(PgFixture, "A PostgreSQL store refuses a newer schema and a foreign database",
                 "[storage][postgres][migrations]") {
  SECTION("newer") {
    Open().reset();
    REQUIRE(server
                .RunSql(name, "INSERT INTO schema_version VALUES (" +
                                  std::to_string(LatestSchemaVersion() + 1) + ", 'future', 0)")
                .ok());
    Result<std::unique_ptr<Store>> store = Store::Open(Options());
    CHECK(store.status().code() == Code::kFailedPrecondition);
    CHECK(store.status().message().find("newer") != std::string::npos);
  }
  SECTION("foreign") {
    REQUIRE(server.RunSql(name, "CREATE TABLE payroll (id int)").ok());
    CHECK(Store::Open(Options()).status().code() == Code::kFailedPrecondition);
  }
}

TEST_CASE_METHOD(PgFixture, "PostgreSQL keeps the audit trail append-only in the database",
                 "[storage][postgres][audit]") {
  auto store = Open();
  MustWrite(*store, [](WriteTxn& txn) -> Status {
    ESCROW_RETURN_IF_ERROR(txn.audit().Append(MakeAudit(1)));
    return txn.audit().Append(MakeAudit(2));
  });
  // Edits behind the store's back, as the table's owner: every one is refused.
  CHECK_FALSE(server.RunSql(name, "UPDATE audit SET actor = 'x' WHERE seq = 1").ok());
  CHECK_FALSE(server.RunSql(name, "DELETE FROM audit WHERE seq = 2").ok());
  CHECK_FALSE(server.RunSql(name, "TRUNCATE audit").ok());
  CHECK_FALSE(server.RunSql(name, "DELETE FROM audit_head").ok());
  // A record that is not the head plus one, inserted directly: refused by the trigger.
  const std::string row =
      "(4, 1, 'a', 'r', 'x', 'd', 'ok', '', '', decode(repeat('00', 32), 'hex'), NULL, 1)";
  CHECK_FALSE(server.RunSql(name, "INSERT INTO audit VALUES " + row).ok());
  CHECK(store->IntegrityCheck().ok());
  auto last = ReadValue(*store, [](ReadTxn& txn) { return txn.audit().Last(); });
  REQUIRE(last.ok());
  CHECK((*last)->seq == 2);
}

TEST_CASE_METHOD(PgFixture, "PostgreSQL stores have no SQLite file to back up",
                 "[storage][postgres]") {
  auto store = Open();
  escrow::testing::TempDir dir;
  CHECK(store->BackupTo((dir.path() / "copy.db").string()).code() == Code::kFailedPrecondition);
}

TEST_CASE_METHOD(PgFixture, "Two PostgreSQL stores on one database serialise their writes",
                 "[storage][postgres][nodes]") {
  auto node_a = Open();
  auto node_b = Open(/*create=*/false);
  MustWrite(*node_a, [](WriteTxn& txn) { return txn.devices().Upsert(MakeDevice("dev-1")); });
  // What one node stores, the other reads at once.
  auto seen = ReadValue(*node_b, [](ReadTxn& txn) { return txn.devices().Get("dev-1"); });
  REQUIRE(seen.ok());
  CHECK(seen->has_value());
  // Node b's write waits for node a's open write (the audit head lock), then sees its head.
  std::atomic<bool> b_done{false};
  std::thread other;
  MustWrite(*node_a, [&](WriteTxn& txn) -> Status {
    ESCROW_RETURN_IF_ERROR(txn.audit().Append(MakeAudit(1)));
    other = std::thread([&] {
      MustWrite(*node_b, [](WriteTxn& t) -> Status {
        ESCROW_ASSIGN_OR_RETURN(std::optional<AuditRow> head, t.audit().Last());
        if (!head || head->seq != 1) return Status::Internal("node b did not see node a's head");
        return t.audit().Append(MakeAudit(2));
      });
      b_done = true;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    CHECK_FALSE(b_done.load());
    return Status::Ok();
  });
  other.join();
  CHECK(b_done.load());
  auto last = ReadValue(*node_a, [](ReadTxn& txn) { return txn.audit().Last(); });
  REQUIRE(last.ok());
  CHECK((*last)->seq == 2);
}

TEST_CASE_METHOD(PgFixture,
                 "A lost PostgreSQL connection fails its transaction with kUnavailable, then "
                 "the store reconnects",
                 "[storage][postgres][faults]") {
  auto store = Open();
  MustWrite(*store, [](WriteTxn& txn) { return txn.devices().Upsert(MakeDevice("dev-1")); });
  // The server ends every session of the store (as a restart or a failover would).
  REQUIRE(server
              .RunSql(name,
                      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                      "datname = current_database() AND pid <> pg_backend_pid()")
              .ok());
  const Status lost =
      store->Write([](WriteTxn& txn) { return txn.devices().Upsert(MakeDevice("dev-2")); });
  CHECK(lost.code() == Code::kUnavailable);
  // The next write opens a new connection.
  MustWrite(*store, [](WriteTxn& txn) { return txn.devices().Upsert(MakeDevice("dev-3")); });
  // A read on a dead pooled connection fails once; the pool then replaces it.
  Result<std::optional<DeviceRow>> read = testing::GetDevice(*store, "dev-3");
  for (int attempt = 0; attempt < 3 && !read.ok(); ++attempt) {
    CHECK(read.status().code() == Code::kUnavailable);
    read = testing::GetDevice(*store, "dev-3");
  }
  REQUIRE(read.ok());
  CHECK(read->has_value());
  CHECK_FALSE(testing::GetDevice(*store, "dev-2")->has_value());
}

TEST_CASE_METHOD(PgFixture, "A text value with a NUL byte is refused before it reaches PostgreSQL",
                 "[storage][postgres]") {
  auto store = Open();
  const std::string id("dev\0tail", 8);
  MustWrite(*store, [&](WriteTxn& txn) -> Status {
    // Sent as a C string it would be cut to "dev": refused instead, and the transaction lives.
    CHECK(txn.devices().Upsert(MakeDevice(id)).code() == Code::kInvalidArgument);
    return txn.devices().Upsert(MakeDevice("dev"));
  });
  CHECK(testing::GetDevice(*store, "dev")->has_value());
}

}  // namespace
}  // namespace escrow::storage
