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
//
// Start({.tls = true}) starts a server that also takes production's connections: TCP on
// 127.0.0.1 (a free port) with ssl=on and password_encryption=scram-sha-256, its certificate
// (subjectAltName DNS:localhost only, no IP address: a URL naming 127.0.0.1 fails verify-full's
// host name check) issued by a CA made with the openssl CLI in the server's directory. pg_hba:
//   local   all all              trust          (the superuser's set-up, as on any server)
//   hostssl all all 127.0.0.1/32 scram-sha-256
//   host    all all 127.0.0.1/32 reject         (TCP without TLS)
// The login role kTlsRole has a random password (set over the socket by the superuser), kept
// in password_file() (0600). Its databases (CreateDatabase, CreateEmptyDatabase) are owned by
// that role, and TlsUrl() reaches them as the role over TLS. The ctest fixture `postgres_tls`
// starts one such server per run (ESCROW_TEST_PG_TLS_STATE); SharedTls() finds it.
// Thread-safe.
class PostgresServer {
 public:
  // The server of this test process: the ctest run's, or one started now.
  static PostgresServer& Shared();
  // The TLS server of this test process (Options::tls): the ctest run's, or one started now
  // and stopped at exit.
  static PostgresServer& SharedTls();

  struct Options {
    bool tls = false;  // also TCP with TLS and a password (the class comment)
  };
  // The login role of a TLS server, and the CN (and subject) of its CAs.
  static constexpr std::string_view kTlsRole = "escrow_vault";

  // initdb + pg_ctl start in a new directory under /tmp. The server is stopped and its
  // directory removed when the returned object is destroyed, unless Detach() was called.
  static Result<std::unique_ptr<PostgresServer>> Start(const Options& options);
  static Result<std::unique_ptr<PostgresServer>> Start() { return Start(Options{}); }
  // A server another process started, from the state file Start's caller wrote with
  // WriteState(): its socket directory, superuser and, for a TLS server, port.
  static Result<std::unique_ptr<PostgresServer>> AttachState(const std::string& state_file);
  // Writes what AttachState reads.
  Status WriteState(const std::string& state_file) const;
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
  // The URL of database `name` over the Unix socket, as the superuser.
  std::string Url(const std::string& name) const;
  // A TLS server's URL of database `name` as production writes it: TCP to `host`:port(),
  // as kTlsRole, sslmode=verify-full, sslrootcert=`ca` (ca_file() unless named).
  std::string TlsUrl(const std::string& name, const std::string& host = "localhost",
                     const std::string& ca = "") const;
  // `pg_ctl restart -m immediate`: every session ends at once, as in a crash, and the server
  // recovers from its WAL (a test that restarts it starts a server of its own).
  Status Restart();
  // Runs SQL as the superuser in database `name` (tests that edit behind the store's back).
  Status RunSql(const std::string& name, const std::string& sql);

  const std::string& dir() const { return dir_; }
  const std::string& user() const { return user_; }
  bool tls() const { return tls_; }
  int port() const { return port_; }
  // A TLS server's CA certificate (PEM), and another CA's of the very same subject name that
  // did not issue the server's certificate.
  std::string ca_file() const { return dir_ + "/tls/ca.crt"; }
  std::string other_ca_file() const { return dir_ + "/tls/other-ca.crt"; }
  // kTlsRole's password, one line, mode 0600.
  std::string password_file() const { return dir_ + "/password"; }
  void Detach() { owned_ = false; }

 private:
  PostgresServer(std::string dir, std::string user, bool owned, bool tls = false,
                 int port = 5432);
  Status SetUpTls();
  Status Launch();          // pg_ctl start
  Status CreateTemplate();  // the database CreateDatabase copies
  Result<std::string> CreateFrom(std::string_view template_name);
  storage::PgConnectOptions Connect(const std::string& database) const;

  std::string dir_;   // data in dir_/data, socket in dir_
  std::string user_;  // the cluster's superuser
  bool owned_;
  bool tls_;
  int port_;  // TCP (a TLS server) and the socket's name, .s.PGSQL.<port>
  std::mutex mu_;
  std::unique_ptr<storage::PgConnection> admin_;  // to database postgres; guarded by mu_
  int created_ = 0;                               // guarded by mu_
};

}  // namespace escrow::testing
