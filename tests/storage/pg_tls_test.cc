// PostgreSQL as production reaches it (API.md "PostgreSQL and several nodes"): TCP to
// 127.0.0.1, TLS with sslmode=verify-full against the CA named by sslrootcert, and a login
// role's password read from a 0600 password_file. The server is the ctest fixture
// `postgres_tls`'s (PostgresServer::SharedTls: one per run; a binary run by hand starts its
// own), whose certificate names DNS:localhost only.
#include <sys/stat.h>

#include <fstream>
#include <memory>
#include <string>

#include <catch2/catch.hpp>

#include "storage/pg_connection.h"
#include "storage/pg_store.h"
#include "storage/store.h"
#include "tests/storage/store_test_rows.h"
#include "tests/support/postgres_server.h"
#include "tests/support/temp_dir.h"

namespace escrow::storage {
namespace {

using escrow::testing::PostgresServer;
using testing::GetDevice;
using testing::MakeDevice;
using testing::MustWrite;

constexpr Query kSessionTls{
    "session tls",
    "SELECT s.ssl, s.version, current_user FROM pg_stat_ssl s WHERE s.pid = pg_backend_pid()"};
// Every session of database $1 (but the asking one): whether it is TLS, and as whom.
constexpr Query kSessionsOf{
    "sessions of a database",
    "SELECT coalesce(s.ssl, false), a.usename, a.application_name FROM pg_stat_activity a "
    "JOIN pg_stat_ssl s USING (pid) WHERE a.datname = $1 AND a.pid <> pg_backend_pid()"};

std::string MustCreateDatabase(PostgresServer& server) {
  Result<std::string> created = server.CreateDatabase();
  INFO(created.status().ToString());
  REQUIRE(created.ok());
  return *created;
}

std::string Password(const PostgresServer& server) {
  std::string password = escrow::testing::ReadFileBytes(server.password_file());
  if (password.ends_with('\n')) password.pop_back();
  REQUIRE(password.size() >= 16);
  return password;
}

// Store options as vaultd's config gives them: the TLS URL and the password file.
StoreOptions TlsOptions(const PostgresServer& server, const std::string& url,
                        const std::string& password_file = "") {
  StoreOptions options;
  options.url = url;
  options.password_file = password_file.empty() ? server.password_file() : password_file;
  options.read_connections = 2;
  return options;
}

// A PgStore::Open refused before any store exists: its status, which must not quote the
// password (neither the right one nor the one tried).
Status OpenRefused(const StoreOptions& options, const std::string& password) {
  Result<std::unique_ptr<Store>> store = Store::Open(options);
  INFO(options.url);
  REQUIRE_FALSE(store.ok());
  CHECK(store.status().message().find(password) == std::string::npos);
  return store.status();
}

// A superuser session over the Unix socket (the server's local trust line).
std::unique_ptr<PgConnection> MustOpenSuperuser(const PostgresServer& server,
                                                const std::string& db) {
  Result<PgConnectOptions> connect = PgConnectOptionsFor({.path = "", .url = server.Url(db)});
  REQUIRE(connect.ok());
  Result<std::unique_ptr<PgConnection>> conn = PgConnection::Open(*connect);
  INFO(conn.status().ToString());
  REQUIRE(conn.ok());
  return std::move(conn).value();
}

TEST_CASE("PgStore over TLS with a password file: a write reads back on fresh connections",
          "[storage][postgres][tls]") {
  PostgresServer& server = PostgresServer::SharedTls();
  const std::string db = MustCreateDatabase(server);
  const std::string url = server.TlsUrl(db);
  CHECK_THAT(url, Catch::StartsWith("postgresql://escrow_vault@localhost:"));
  CHECK_THAT(url, Catch::Contains("sslmode=verify-full&sslrootcert=/"));
  {
    // create = false: the schema is there already, made by the role over TLS.
    Result<std::unique_ptr<Store>> store = Store::Open(TlsOptions(server, url));
    INFO(store.status().ToString());
    REQUIRE(store.ok());
    MustWrite(**store, [](WriteTxn& txn) {
      return txn.devices().Upsert(MakeDevice("dev-tls", "bob", "SERIAL-TLS"));
    });
  }
  Result<std::unique_ptr<Store>> again = Store::Open(TlsOptions(server, url));
  INFO(again.status().ToString());
  REQUIRE(again.ok());
  Result<std::optional<DeviceRow>> device = GetDevice(**again, "dev-tls");
  INFO(device.status().ToString());
  REQUIRE(device.ok());
  REQUIRE(device->has_value());
  CHECK((*device)->owner == "bob");
  CHECK((*device)->serial == "SERIAL-TLS");
  CHECK((**again).IntegrityCheck().ok());
}

TEST_CASE("PgStore's sessions are TLS as the login role and the server refuses TCP without TLS",
          "[storage][postgres][tls]") {
  PostgresServer& server = PostgresServer::SharedTls();
  const std::string db = MustCreateDatabase(server);
  const StoreOptions options = TlsOptions(server, server.TlsUrl(db));

  // A session made with exactly the parameters PgStore uses.
  Result<PgConnectOptions> connect = PgConnectOptionsFor(options);
  REQUIRE(connect.ok());
  Result<std::unique_ptr<PgConnection>> conn = PgConnection::Open(*connect);
  INFO(conn.status().ToString());
  REQUIRE(conn.ok());
  Result<PgResult> tls = (*conn)->Exec(kSessionTls);
  REQUIRE(tls.ok());
  REQUIRE(tls->rows() == 1);
  CHECK(tls->Text(0, 0) == "t");
  CHECK_THAT(tls->Text(0, 1), Catch::StartsWith("TLSv1."));
  CHECK(tls->Text(0, 2) == std::string(PostgresServer::kTlsRole));

  // The store's own sessions (its writer and a reader), seen from the server's side.
  Result<std::unique_ptr<Store>> store = Store::Open(options);
  REQUIRE(store.ok());
  std::unique_ptr<PgConnection> admin = MustOpenSuperuser(server, db);
  Result<PgResult> sessions = admin->Exec(kSessionsOf, PgParams().Text(db));
  REQUIRE(sessions.ok());
  int vaultd_sessions = 0;
  for (int row = 0; row < sessions->rows(); ++row) {
    INFO(sessions->Text(row, 1) << " " << sessions->Text(row, 2));
    CHECK(sessions->Text(row, 0) == "t");
    CHECK(sessions->Text(row, 1) == std::string(PostgresServer::kTlsRole));
    if (sessions->Text(row, 2) == "vaultd") ++vaultd_sessions;
  }
  CHECK(vaultd_sessions >= 3);  // the session above, the store's writer and reader

  // TCP without TLS never gets as far as the password (pg_hba: host ... reject). The URL
  // parser refuses such a URL already; this asks libpq directly.
  PgConnectOptions plain = *connect;
  for (auto& [key, value] : plain.params) {
    if (key == "sslmode") value = "disable";
  }
  Result<std::unique_ptr<PgConnection>> refused = PgConnection::Open(plain);
  REQUIRE_FALSE(refused.ok());
  CHECK_THAT(refused.status().message(),
             Catch::Contains("pg_hba.conf rejects connection") && Catch::Contains("no encryption"));
}

TEST_CASE("A wrong database password is refused with a clear error that does not quote it",
          "[storage][postgres][tls]") {
  PostgresServer& server = PostgresServer::SharedTls();
  const std::string db = MustCreateDatabase(server);
  escrow::testing::TempDir dir;
  const std::string wrong_file = dir.str() + "/wrong.password";
  const std::string wrong = "not-" + Password(server);
  {
    std::ofstream out(wrong_file);
    out << wrong << "\n";
  }
  REQUIRE(::chmod(wrong_file.c_str(), 0600) == 0);
  const Status s = OpenRefused(TlsOptions(server, server.TlsUrl(db), wrong_file), wrong);
  INFO(s.ToString());
  CHECK(s.code() == Code::kUnavailable);
  CHECK_THAT(s.message(),
             Catch::Contains("password authentication failed for user \"escrow_vault\""));
  CHECK(s.message().find(Password(server)) == std::string::npos);
}

TEST_CASE("verify-full refuses a server whose certificate another CA issued",
          "[storage][postgres][tls]") {
  PostgresServer& server = PostgresServer::SharedTls();
  const std::string db = MustCreateDatabase(server);
  // The other CA has the very subject name of the one that issued the server's certificate:
  // only the signature tells them apart.
  const Status s = OpenRefused(
      TlsOptions(server, server.TlsUrl(db, "localhost", server.other_ca_file())),
      Password(server));
  INFO(s.ToString());
  CHECK(s.code() == Code::kUnavailable);
  CHECK_THAT(s.message(), Catch::Contains("certificate verify failed"));
}

TEST_CASE("verify-full refuses a host name the server's certificate does not carry",
          "[storage][postgres][tls]") {
  PostgresServer& server = PostgresServer::SharedTls();
  const std::string db = MustCreateDatabase(server);
  // The same server and CA: localhost is accepted (the first test), 127.0.0.1 is not named by
  // the certificate (DNS:localhost only).
  const Status s = OpenRefused(TlsOptions(server, server.TlsUrl(db, "127.0.0.1")),
                               Password(server));
  INFO(s.ToString());
  CHECK(s.code() == Code::kUnavailable);
  // libpq: server certificate for "localhost" (and 1 other name) does not match host name ...
  CHECK_THAT(s.message(), Catch::Contains("server certificate for \"localhost\"") &&
                              Catch::Contains("does not match host name \"127.0.0.1\""));
}

TEST_CASE("A password file that others may read is refused with chmod 600 in the message",
          "[storage][postgres][tls]") {
  PostgresServer& server = PostgresServer::SharedTls();
  const std::string db = MustCreateDatabase(server);
  escrow::testing::TempDir dir;
  const std::string file = dir.str() + "/db.password";
  {
    std::ofstream out(file);
    out << Password(server) << "\n";
  }
  for (const mode_t mode : {mode_t{0644}, mode_t{0640}, mode_t{0604}, mode_t{0660}}) {
    INFO("mode " << std::oct << mode);
    REQUIRE(::chmod(file.c_str(), mode) == 0);
    const Status s = OpenRefused(TlsOptions(server, server.TlsUrl(db), file), Password(server));
    INFO(s.ToString());
    CHECK(s.code() == Code::kFailedPrecondition);
    CHECK_THAT(s.message(), Catch::Contains(file) && Catch::Contains("chmod 600"));
  }
  // The same file at 0600 opens: the mode was the only fault.
  REQUIRE(::chmod(file.c_str(), 0600) == 0);
  Result<std::unique_ptr<Store>> store = Store::Open(TlsOptions(server, server.TlsUrl(db), file));
  INFO(store.status().ToString());
  CHECK(store.ok());
}

}  // namespace
}  // namespace escrow::storage
