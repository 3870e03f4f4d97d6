#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "base/result.h"

#include "storage/pg_connection.h"

namespace escrow::testing {

// A real PostgreSQL 15 server for tests (Debian's postgresql-15): initdb and pg_ctl from
// /usr/lib/postgresql/15/bin in a fresh directory under /tmp, listening only on a Unix
// socket in that directory (trust authentication: nothing else can reach it), with
// fsync=on and synchronous_commit=on as in production. Run as root (CI), the server runs as
// the unprivileged `escrow-test` user (runuser), as PostgreSQL refuses root.
//
// Starting a cluster costs seconds (initdb), so ctest starts one per run: the fixture tests
// postgres_server_start / _stop (tests/storage/CMakeLists.txt) run `escrow_test_postgres
// start|stop STATE`, and every test process finds the server through the state file named by
// ESCROW_TEST_PG_STATE. A test binary run by hand starts its own server at first use and
// stops it at exit (pg_ctl stop -m immediate: see StopAt). Each test gets a fresh database.
// Thread-safe.
class PostgresServer {
 public:
  // The server of this test process: the ctest run's, or one started now.
  static PostgresServer& Shared();

  // initdb + pg_ctl start in a new directory under /tmp. The server is stopped and its
  // directory removed when the returned object is destroyed, unless Detach() was called.
  static Result<std::unique_ptr<PostgresServer>> Start();
  // A server another process started (its socket directory and superuser name).
  static std::unique_ptr<PostgresServer> Attach(std::string dir, std::string user);
  // `pg_ctl stop -m immediate`, then removes the directory.
  static Status StopAt(const std::string& dir);

  PostgresServer(const PostgresServer&) = delete;  // owns a server process
  PostgresServer& operator=(const PostgresServer&) = delete;
  PostgresServer(PostgresServer&&) = delete;
  PostgresServer& operator=(PostgresServer&&) = delete;
  ~PostgresServer();

  // A fresh database holding the vault schema and no rows: a copy of escrow_template, which
  // Start() migrated once (a copy costs about 0.3 s here, migrating 15 versions as much
  // again); its name. Databases are never dropped one by one (DROP DATABASE forces a
  // checkpoint, about 1 s): they go with the server's directory at the end of the run.
  Result<std::string> CreateDatabase();
  // The same, but empty (TEMPLATE template0), for tests of migration itself.
  Result<std::string> CreateEmptyDatabase();
  // The URL of database `name`.
  std::string Url(const std::string& name) const;
  // `pg_ctl restart -m immediate`: every session ends at once, as in a crash, and the server
  // recovers from its WAL (a test that restarts it starts a server of its own).
  Status Restart();
  // Runs SQL as the superuser in database `name` (tests that edit behind the store's back).
  Status RunSql(const std::string& name, const std::string& sql);

  const std::string& dir() const { return dir_; }
  const std::string& user() const { return user_; }
  void Detach() { owned_ = false; }

 private:
  PostgresServer(std::string dir, std::string user, bool owned);
  Result<std::string> CreateFrom(std::string_view template_name);
  storage::PgConnectOptions Connect(const std::string& database) const;

  std::string dir_;   // data in dir_/data, socket in dir_
  std::string user_;  // the cluster's superuser
  bool owned_;
  std::mutex mu_;
  std::unique_ptr<storage::PgConnection> admin_;  // to database postgres; guarded by mu_
  int created_ = 0;                               // guarded by mu_
};

}  // namespace escrow::testing
