#include "tests/support/postgres_server.h"

#include <pwd.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <system_error>
#include <thread>

#include "storage/pg_connection.h"
#include "storage/pg_migrations.h"
#include "tests/support/temp_dir.h"

namespace escrow::testing {
namespace {

constexpr std::string_view kBin = "/usr/lib/postgresql/15/bin/";
constexpr std::string_view kServerUser = "escrow-test";  // .ci/run and install-deps create it
constexpr std::string_view kTemplate = "escrow_template";

bool IsRoot() { return ::geteuid() == 0; }

// The command prefix that runs a server program as the server's user.
std::string AsServerUser() {
  return IsRoot() ? "runuser -u " + std::string(kServerUser) + " -- " : std::string();
}

std::string CurrentUser() {
  if (IsRoot()) return std::string(kServerUser);
  const passwd* pw = ::getpwuid(::geteuid());  // NOLINT(concurrency-mt-unsafe): test set-up
  return pw != nullptr ? std::string(pw->pw_name) : std::string("postgres");
}

Status Run(const std::string& what, const std::string& command) {
  std::string out;
  const int rc = RunCommand(command + " 2>&1", &out);
  if (rc != 0) return Status::Unavailable(what + " failed (" + std::to_string(rc) + "): " + out);
  return Status::Ok();
}

std::string PercentEncodePath(const std::string& path) {
  std::string out;
  for (const char c : path) {
    if (c == '/') {
      out += "%2F";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

PostgresServer::PostgresServer(std::string dir, std::string user, bool owned)
    : dir_(std::move(dir)), user_(std::move(user)), owned_(owned) {}

PostgresServer::~PostgresServer() {
  {
    std::lock_guard lock(mu_);
    admin_.reset();
  }
  if (owned_) (void)StopAt(dir_);
}

PostgresServer& PostgresServer::Shared() {
  static std::unique_ptr<PostgresServer> server = [] {
    // NOLINTNEXTLINE(concurrency-mt-unsafe): read once, under the static's initialisation
    const char* state = std::getenv("ESCROW_TEST_PG_STATE");
    if (state != nullptr) {
      std::ifstream in(state);
      std::string dir;
      std::string user;
      if (std::getline(in, dir) && std::getline(in, user)) return Attach(dir, user);
    }
    Result<std::unique_ptr<PostgresServer>> started = Start();
    if (!started.ok()) throw std::runtime_error(started.status().ToString());
    return std::move(started).value();
  }();
  return *server;
}

Result<std::unique_ptr<PostgresServer>> PostgresServer::Start() {
  if (IsRoot() && RunCommand("id -u " + std::string(kServerUser) + " >/dev/null 2>&1") != 0) {
    return Status::FailedPrecondition(
        "tests run as root need the user escrow-test for PostgreSQL: "
        "useradd --system --no-create-home escrow-test");
  }
  std::string tmpl = "/tmp/escrow-pg-XXXXXX";  // short: a socket path has ~100 bytes
  if (::mkdtemp(tmpl.data()) == nullptr) return Status::Unavailable("mkdtemp failed");
  std::unique_ptr<PostgresServer> server(new PostgresServer(tmpl, CurrentUser(), true));
  const std::string& dir = server->dir_;
  if (IsRoot()) {
    ESCROW_RETURN_IF_ERROR(Run("chown", "chown " + std::string(kServerUser) + " " + dir));
  }
  // initdb's own files need no fsync (a crash during set-up only fails the run); the server
  // runs with fsync and synchronous_commit on, as in production.
  ESCROW_RETURN_IF_ERROR(Run("initdb", AsServerUser() + std::string(kBin) + "initdb -D " + dir +
                                           "/data -A trust -E UTF8 --locale=C --no-sync "
                                           "--no-instructions >/dev/null"));
  const std::string options =
      "-c listen_addresses='' -c unix_socket_directories=" + dir +
      " -c fsync=on -c synchronous_commit=on -c max_connections=300 -c shared_buffers=32MB";
  ESCROW_RETURN_IF_ERROR(Run("pg_ctl start", AsServerUser() + std::string(kBin) + "pg_ctl -D " +
                                                 dir + "/data -l " + dir + "/server.log -w -s -o \"" +
                                                 options + "\" start"));
  // The vault schema, once: every CreateDatabase copies it.
  {
    ESCROW_ASSIGN_OR_RETURN(std::unique_ptr<storage::PgConnection> admin,
                            storage::PgConnection::Open(server->Connect("postgres")));
    ESCROW_RETURN_IF_ERROR(admin->Run("create template database",
                                      "CREATE DATABASE " + std::string(kTemplate) +
                                          " TEMPLATE template0"));
    ESCROW_ASSIGN_OR_RETURN(std::unique_ptr<storage::PgConnection> conn,
                            storage::PgConnection::Open(server->Connect(std::string(kTemplate))));
    ESCROW_RETURN_IF_ERROR(storage::PgMigrate(*conn, /*allow_create=*/true).status());
  }
  return server;
}

Status PostgresServer::Restart() {
  {
    std::lock_guard lock(mu_);
    admin_.reset();
  }
  return Run("pg_ctl restart", AsServerUser() + std::string(kBin) + "pg_ctl -D " + dir_ +
                                   "/data -l " + dir_ + "/server.log -w -s -m immediate restart");
}

std::unique_ptr<PostgresServer> PostgresServer::Attach(std::string dir, std::string user) {
  return std::unique_ptr<PostgresServer>(new PostgresServer(std::move(dir), std::move(user), false));
}

Status PostgresServer::StopAt(const std::string& dir) {
  // Immediate, not fast: a fast shutdown ends with a checkpoint that fsyncs every file of
  // every test database (minutes after a full run), and the directory is deleted next.
  Status s = Run("pg_ctl stop", AsServerUser() + std::string(kBin) + "pg_ctl -D " + dir +
                                    "/data -w -s -m immediate stop");
  // The last server processes may still be removing their files: try again briefly.
  std::error_code ec;
  for (int attempt = 0; attempt < 50; ++attempt) {
    std::filesystem::remove_all(dir, ec);
    if (!ec && !std::filesystem::exists(dir, ec)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return s;
}

std::string PostgresServer::Url(const std::string& name) const {
  return "postgresql://" + user_ + "@" + PercentEncodePath(dir_) + "/" + name;
}

storage::PgConnectOptions PostgresServer::Connect(const std::string& database) const {
  storage::PgConnectOptions options;
  options.params = {{"host", dir_},  {"port", "5432"},        {"dbname", database},
                    {"user", user_}, {"sslmode", "disable"}, {"passfile", "/dev/null/none"}};
  return options;
}

Result<std::string> PostgresServer::CreateFrom(std::string_view template_name) {
  std::lock_guard lock(mu_);
  if (admin_ == nullptr || admin_->broken()) {
    ESCROW_ASSIGN_OR_RETURN(admin_, storage::PgConnection::Open(Connect("postgres")));
  }
  const std::string name =
      "t_" + std::to_string(::getpid()) + "_" + std::to_string(++created_);
  ESCROW_RETURN_IF_ERROR(admin_->Run(
      "create database", "CREATE DATABASE " + name + " TEMPLATE " + std::string(template_name)));
  return name;
}

Result<std::string> PostgresServer::CreateDatabase() { return CreateFrom(kTemplate); }

Result<std::string> PostgresServer::CreateEmptyDatabase() { return CreateFrom("template0"); }

Status PostgresServer::RunSql(const std::string& name, const std::string& sql) {
  ESCROW_ASSIGN_OR_RETURN(std::unique_ptr<storage::PgConnection> conn,
                          storage::PgConnection::Open(Connect(name)));
  return conn->Run("test sql", sql);
}

}  // namespace escrow::testing
