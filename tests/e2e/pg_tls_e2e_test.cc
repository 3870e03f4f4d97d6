// The real vaultd on PostgreSQL as production reaches it: TCP, TLS with sslmode=verify-full
// and sslrootcert, the login role's password from a 0600 password_file (the ctest fixture
// `postgres_tls`'s server, PostgresServer::SharedTls). A dev vault is moved into it by
// `vaultctl db migrate --password-file`, then served; vaultd's seccomp filter (installed after
// the store opens) must let it make new TLS connections too.
#include <signal.h>
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <thread>

#include "tests/e2e/multi_node_cluster.h"

namespace escrow::e2e {
namespace {

using testing::PostgresServer;

// psql as the superuser over the server's socket: one value per line.
std::string Psql(const PostgresServer& pg, const std::string& db, const std::string& sql) {
  std::string out;
  const int rc = Sh("/usr/lib/postgresql/15/bin/psql -X -At -h " + Quote(pg.dir()) + " -p " +
                        std::to_string(pg.port()) + " -U " + Quote(pg.user()) + " -d " +
                        Quote(db) + " -c " + Quote(sql) + " 2>&1",
                    &out);
  INFO(out);
  REQUIRE(rc == 0);
  return out;
}

// vaultd's sessions in `db`: "ssl|role" per line, sorted.
std::string VaultdSessions(const PostgresServer& pg, const std::string& db) {
  return Psql(pg, db,
              "SELECT s.ssl || '|' || a.usename FROM pg_stat_activity a JOIN pg_stat_ssl s "
              "USING (pid) WHERE a.datname = current_database() AND "
              "a.application_name = 'vaultd' ORDER BY 1");
}

// A field of /proc/PID/status ("" if none).
std::string StatusField(int pid, const std::string& field) {
  std::istringstream in(testing::ReadFileBytes("/proc/" + std::to_string(pid) + "/status"));
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(field + ":\t", 0) == 0) return line.substr(field.size() + 2);
  }
  return {};
}

bool Alive(const VaultProcess& v) {
  int status = 0;
  return ::waitpid(v.pid(), &status, WNOHANG) == 0;
}

TEST_CASE("vaultd serves a vault migrated into PostgreSQL over TLS with a password file",
          "[e2e][postgres][tls]") {
  PostgresServer& pg = PostgresServer::SharedTls();
  Result<std::string> created = pg.CreateEmptyDatabase();  // owned by the login role
  INFO(created.status().ToString());
  REQUIRE(created.ok());
  const std::string db = *created;
  const std::string url = pg.TlsUrl(db);
  VaultProcess v;
  const std::string conf = Quote(v.state() + "/vault.conf");

  // Without the password the server refuses the role, and db migrate says why.
  int rc = 0;
  std::string out = Vaultctl("db migrate --config " + conf + " --to " + Quote(url), &rc);
  CHECK(rc != 0);
  CHECK_THAT(out, Catch::Contains("no password supplied"));

  const std::string migrated = Vaultctl("db migrate --config " + conf + " --to " + Quote(url) +
                                            " --password-file " + Quote(pg.password_file()),
                                        &rc);
  INFO(migrated);
  REQUIRE(rc == 0);
  REQUIRE_THAT(migrated, Catch::Contains("audit head"));
  UseUrl(v.state(), url, pg.password_file());

  const bool started = v.Start();
  INFO(v.Log());
  REQUIRE(started);
  v.Enrol("mac1", "alice@example.com", "corporate");
  const std::string alice = v.Token("alice@example.com");
  const std::string hd = v.Token("hd@example.com", "--roles helpdesk");
  REQUIRE(v.As(alice, "PUT", "/v1/devices/mac1/recovery-key", KeyBody(kMacKey1, kMacKey1))
              .status == 200);
  HttpResult r = v.As(hd, "POST", "/v1/devices/mac1/recovery-key/retrieve",
                      R"({"reason":"locked out, ticket 7"})");
  INFO(r.body);
  REQUIRE(r.status == 200);
  CHECK_THAT(r.body, Catch::Contains(kMacKey1));
  // Every session vaultd holds is TLS, as the login role.
  const std::string sessions = VaultdSessions(pg, db);
  INFO(sessions);
  CHECK_THAT(sessions, Catch::StartsWith("true|escrow_vault\n"));
  CHECK(sessions.find("false") == std::string::npos);

  // The server ends every vaultd session: vaultd reconnects, under its seccomp filter, over
  // TLS with the password (a request meanwhile may answer 503, never anything else).
#ifndef ESCROW_SANITIZED
  CHECK(StatusField(v.pid(), "Seccomp") == "2");  // SECCOMP_MODE_FILTER, installed after open
#endif
  const std::string terminated =
      Psql(pg, db,
           "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE "
           "datname = current_database() AND application_name = 'vaultd'");
  INFO("sessions ended: " << terminated);
  CHECK(std::stoi(terminated) >= 2);  // the writer and a reader at least
  int stored = 0;
  for (int attempt = 0; attempt < 20 && stored != 200; ++attempt) {
    stored = v.As(alice, "PUT", "/v1/devices/mac1/recovery-key", KeyBody(kMacKey2, kMacKey2))
                 .status;
    INFO("attempt " << attempt << ": " << stored);
    CHECK((stored == 200 || stored == 503));
    if (stored != 200) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  INFO(v.Log());
  REQUIRE(Alive(v));  // not killed by its seccomp filter (SIGSYS)
  REQUIRE(stored == 200);
  r = v.As(hd, "POST", "/v1/devices/mac1/recovery-key/retrieve",
           R"({"reason":"locked out, ticket 8"})");
  INFO(r.body);
  REQUIRE(r.status == 200);
  CHECK_THAT(r.body, Catch::Contains(kMacKey2));
  const std::string reconnected = VaultdSessions(pg, db);
  INFO(reconnected);
  CHECK_THAT(reconnected, Catch::StartsWith("true|escrow_vault\n"));
  CHECK(reconnected.find("false") == std::string::npos);
  CHECK(Alive(v));

  // vaultctl reads the same config: url and password_file.
  out = Vaultctl("audit verify --config " + conf, &rc);
  INFO(out);
  CHECK(rc == 0);
  CHECK(v.Stop() == 0);

  // The password is in its file only: in neither tool's output nor vaultd's log.
  std::string password = testing::ReadFileBytes(pg.password_file());
  if (password.ends_with('\n')) password.pop_back();
  REQUIRE(password.size() >= 16);
  CHECK(out.find(password) == std::string::npos);
  CHECK(migrated.find(password) == std::string::npos);
  CHECK(v.Log().find(password) == std::string::npos);
}

}  // namespace
}  // namespace escrow::e2e
