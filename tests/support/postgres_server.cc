#include "tests/support/postgres_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <system_error>
#include <thread>

#include "storage/pg_connection.h"
#include "storage/pg_migrations.h"
#include "storage/pg_store.h"
#include "tests/support/temp_dir.h"

namespace escrow::testing {
namespace {

constexpr std::string_view kBin = "/usr/lib/postgresql/15/bin/";
constexpr std::string_view kServerUser = "escrow-test";  // .ci/run and install-deps create it
constexpr std::string_view kTemplate = "escrow_template";
constexpr std::string_view kTlsTemplate = "escrow_tls_template";  // owned by kTlsRole
constexpr int kDefaultPort = 5432;

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

// A TCP port on 127.0.0.1 that nothing listens on now (the kernel's choice; a server started
// next may still lose it to another process: Start tries again).
Result<int> FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::Unavailable("socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  // NOLINTBEGIN(cppcoreguidelines-pro-type-reinterpret-cast): the sockets API
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  // NOLINTEND(cppcoreguidelines-pro-type-reinterpret-cast)
  ::close(fd);
  if (!ok) return Status::Unavailable("no free port on 127.0.0.1");
  return static_cast<int>(ntohs(addr.sin_port));
}

// 18 random bytes in hex: safe to splice into SQL and into a file.
Result<std::string> RandomPassword() {
  std::ifstream in("/dev/urandom", std::ios::binary);
  std::array<unsigned char, 18> bytes{};
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): istream reads chars
  if (!in.read(reinterpret_cast<char*>(bytes.data()), bytes.size())) {
    return Status::Unavailable("cannot read /dev/urandom");
  }
  constexpr std::string_view kHex = "0123456789abcdef";
  std::string out;
  for (const unsigned char b : bytes) {
    out += kHex[b >> 4U];
    out += kHex[b & 15U];
  }
  return out;
}

Status WriteText(const std::string& path, const std::string& text, mode_t mode) {
  {
    std::ofstream out(path, std::ios::trunc);
    out << text;
    out.close();
    if (!out) return Status::Unavailable("cannot write " + path);
  }
  if (::chmod(path.c_str(), mode) != 0) return Status::Unavailable("cannot chmod " + path);
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

PostgresServer::PostgresServer(std::string dir, std::string user, bool owned, bool tls, int port)
    : dir_(std::move(dir)), user_(std::move(user)), owned_(owned), tls_(tls), port_(port) {}

PostgresServer::~PostgresServer() {
  {
    std::lock_guard lock(mu_);
    admin_.reset();
  }
  if (owned_) (void)StopAt(dir_);
}

namespace {

// The server named by the state file in environment variable `env` (a ctest fixture's), or
// one started now with `options`, stopped when the process exits.
std::unique_ptr<PostgresServer> AttachOrStart(const char* env,
                                              const PostgresServer::Options& options) {
  // NOLINTNEXTLINE(concurrency-mt-unsafe): read once, under the static's initialisation
  const char* state = std::getenv(env);
  if (state != nullptr) {
    Result<std::unique_ptr<PostgresServer>> attached = PostgresServer::AttachState(state);
    if (attached.ok() && (*attached)->tls() == options.tls) return std::move(attached).value();
  }
  Result<std::unique_ptr<PostgresServer>> started = PostgresServer::Start(options);
  if (!started.ok()) throw std::runtime_error(started.status().ToString());
  return std::move(started).value();
}

}  // namespace

PostgresServer& PostgresServer::Shared() {
  static std::unique_ptr<PostgresServer> server = AttachOrStart("ESCROW_TEST_PG_STATE", {});
  return *server;
}

PostgresServer& PostgresServer::SharedTls() {
  static std::unique_ptr<PostgresServer> server =
      AttachOrStart("ESCROW_TEST_PG_TLS_STATE", {.tls = true});
  return *server;
}

Result<std::unique_ptr<PostgresServer>> PostgresServer::Start(const Options& options) {
  if (IsRoot() && RunCommand("id -u " + std::string(kServerUser) + " >/dev/null 2>&1") != 0) {
    return Status::FailedPrecondition(
        "tests run as root need the user escrow-test for PostgreSQL: "
        "useradd --system --no-create-home escrow-test");
  }
  std::string tmpl = "/tmp/escrow-pg-XXXXXX";  // short: a socket path has ~100 bytes
  if (::mkdtemp(tmpl.data()) == nullptr) return Status::Unavailable("mkdtemp failed");
  std::unique_ptr<PostgresServer> server(
      new PostgresServer(tmpl, CurrentUser(), true, options.tls, kDefaultPort));
  const std::string& dir = server->dir_;
  if (IsRoot()) {
    ESCROW_RETURN_IF_ERROR(Run("chown", "chown " + std::string(kServerUser) + " " + dir));
  }
  // initdb's own files need no fsync (a crash during set-up only fails the run); the server
  // runs with fsync and synchronous_commit on, as in production.
  ESCROW_RETURN_IF_ERROR(Run("initdb", AsServerUser() + std::string(kBin) + "initdb -D " + dir +
                                           "/data -A trust -E UTF8 --locale=C --no-sync "
                                           "--no-instructions >/dev/null"));
  if (options.tls) {
    ESCROW_RETURN_IF_ERROR(server->SetUpTls());
  }
  ESCROW_RETURN_IF_ERROR(server->Launch());
  ESCROW_RETURN_IF_ERROR(server->CreateTemplate());
  return server;
}

Status PostgresServer::Launch() {
  std::string options =
      "-c unix_socket_directories=" + dir_ +
      " -c fsync=on -c synchronous_commit=on -c max_connections=300 -c shared_buffers=32MB";
  if (tls_) {
    options += " -c ssl=on -c ssl_cert_file=" + dir_ + "/tls/server.crt";
    options += " -c ssl_key_file=" + dir_ + "/tls/server.key";
    options += " -c password_encryption=scram-sha-256";
  }
  // A TLS server listens on a free port of 127.0.0.1, which another process may take before
  // the server binds it: a few tries.
  Status started = Status::Unavailable("not started");
  for (int attempt = 0; attempt < (tls_ ? 5 : 1) && !started.ok(); ++attempt) {
    std::string listen = " -c listen_addresses=''";
    if (tls_) {
      ESCROW_ASSIGN_OR_RETURN(port_, FreePort());
      listen = " -c listen_addresses=127.0.0.1 -c port=" + std::to_string(port_);
    }
    started = Run("pg_ctl start", AsServerUser() + std::string(kBin) + "pg_ctl -D " + dir_ +
                                      "/data -l " + dir_ + "/server.log -w -s -o \"" +
                                      options + listen + "\" start");
  }
  return started;
}

// The vault schema, once: every CreateDatabase copies it.
Status PostgresServer::CreateTemplate() {
  ESCROW_ASSIGN_OR_RETURN(std::unique_ptr<storage::PgConnection> admin,
                          storage::PgConnection::Open(Connect("postgres")));
  if (!tls_) {
    ESCROW_RETURN_IF_ERROR(admin->Run("create template database",
                                      "CREATE DATABASE " + std::string(kTemplate) +
                                          " TEMPLATE template0"));
    ESCROW_ASSIGN_OR_RETURN(std::unique_ptr<storage::PgConnection> conn,
                            storage::PgConnection::Open(Connect(std::string(kTemplate))));
    return storage::PgMigrate(*conn, /*allow_create=*/true).status();
  }
  // The role, its password (hex: nothing to escape) and its template, migrated by the role
  // itself over TLS as vaultd would: its objects are the role's, and the set-up already
  // proves the TLS path.
  ESCROW_ASSIGN_OR_RETURN(std::string password, RandomPassword());
  ESCROW_RETURN_IF_ERROR(WriteText(password_file(), password + "\n", 0600));
  ESCROW_RETURN_IF_ERROR(admin->Run("create role", "CREATE ROLE " + std::string(kTlsRole) +
                                                       " LOGIN PASSWORD '" + password + "'"));
  ESCROW_RETURN_IF_ERROR(admin->Run("create template database",
                                    "CREATE DATABASE " + std::string(kTlsTemplate) + " OWNER " +
                                        std::string(kTlsRole) + " TEMPLATE template0"));
  storage::StoreOptions role;
  role.url = TlsUrl(std::string(kTlsTemplate));
  role.password_file = password_file();
  ESCROW_ASSIGN_OR_RETURN(storage::PgConnectOptions connect, storage::PgConnectOptionsFor(role));
  ESCROW_ASSIGN_OR_RETURN(std::unique_ptr<storage::PgConnection> conn,
                          storage::PgConnection::Open(connect));
  return storage::PgMigrate(*conn, /*allow_create=*/true).status();
}

// The CA, another CA of the same subject, the server's key and certificate (localhost only),
// and pg_hba.conf, before the server starts.
Status PostgresServer::SetUpTls() {
  const std::string tls = dir_ + "/tls";
  if (::mkdir(tls.c_str(), 0755) != 0) return Status::Unavailable("cannot mkdir " + tls);
  ESCROW_RETURN_IF_ERROR(WriteText(tls + "/server.ext",
                                   "basicConstraints=critical,CA:FALSE\n"
                                   "keyUsage=critical,digitalSignature\n"
                                   "extendedKeyUsage=serverAuth\n"
                                   "subjectAltName=DNS:localhost\n",
                                   0644));
  const std::string ec = " -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";
  const std::string ca_subject = " -subj '/CN=escrow test database CA'";
  const std::string cmd =
      "(cd " + tls + " && openssl req -x509" + ec + " -keyout ca.key -out ca.crt -days 30" +
      ca_subject + " && openssl req -x509" + ec +
      " -keyout other-ca.key -out other-ca.crt -days 30" + ca_subject + " && openssl req -new" +
      ec + " -keyout server.key -out server.csr -subj /CN=localhost" +
      " && openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -set_serial 1 -days 30"
      " -extfile server.ext -out server.crt && chmod 600 server.key)";
  ESCROW_RETURN_IF_ERROR(Run("openssl", cmd));
  ESCROW_RETURN_IF_ERROR(WriteText(dir_ + "/data/pg_hba.conf",
                                   "local   all all              trust\n"
                                   "hostssl all all 127.0.0.1/32 scram-sha-256\n"
                                   "host    all all 127.0.0.1/32 reject\n",
                                   0600));
  if (IsRoot()) {
    // The server reads its key (0600, its own) and pg_hba.conf as the server user.
    ESCROW_RETURN_IF_ERROR(Run("chown", "chown " + std::string(kServerUser) + " " + tls +
                                            "/server.key " + tls + "/server.crt " + dir_ +
                                            "/data/pg_hba.conf"));
  }
  return Status::Ok();
}

Status PostgresServer::Restart() {
  {
    std::lock_guard lock(mu_);
    admin_.reset();
  }
  return Run("pg_ctl restart", AsServerUser() + std::string(kBin) + "pg_ctl -D " + dir_ +
                                   "/data -l " + dir_ + "/server.log -w -s -m immediate restart");
}

Result<std::unique_ptr<PostgresServer>> PostgresServer::AttachState(
    const std::string& state_file) {
  std::ifstream in(state_file);
  std::string dir;
  std::string user;
  std::string port = std::to_string(kDefaultPort);
  std::string tls = "0";
  if (!std::getline(in, dir) || !std::getline(in, user) || dir.empty()) {
    return Status::Unavailable("no server in " + state_file);
  }
  (void)std::getline(in, port);
  (void)std::getline(in, tls);
  int port_number = 0;
  try {
    port_number = std::stoi(port);
  } catch (const std::exception&) {
    return Status::Unavailable("bad port in " + state_file);
  }
  return std::unique_ptr<PostgresServer>(
      new PostgresServer(std::move(dir), std::move(user), false, tls == "1", port_number));
}

Status PostgresServer::WriteState(const std::string& state_file) const {
  return WriteText(state_file,
                   dir_ + "\n" + user_ + "\n" + std::to_string(port_) + "\n" +
                       (tls_ ? "1" : "0") + "\n",
                   0644);
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
  const std::string port = port_ == kDefaultPort ? "" : ":" + std::to_string(port_);
  return "postgresql://" + user_ + "@" + PercentEncodePath(dir_) + port + "/" + name;
}

std::string PostgresServer::TlsUrl(const std::string& name, const std::string& host,
                                   const std::string& ca) const {
  return "postgresql://" + std::string(kTlsRole) + "@" + host + ":" + std::to_string(port_) +
         "/" + name + "?sslmode=verify-full&sslrootcert=" + (ca.empty() ? ca_file() : ca);
}

storage::PgConnectOptions PostgresServer::Connect(const std::string& database) const {
  storage::PgConnectOptions options;
  options.params = {{"host", dir_},  {"port", std::to_string(port_)}, {"dbname", database},
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
  // A TLS server's databases are its role's, as production's would be.
  const std::string owner = tls_ ? " OWNER " + std::string(kTlsRole) : std::string();
  ESCROW_RETURN_IF_ERROR(admin_->Run("create database", "CREATE DATABASE " + name + owner +
                                                            " TEMPLATE " +
                                                            std::string(template_name)));
  return name;
}

Result<std::string> PostgresServer::CreateDatabase() {
  return CreateFrom(tls_ ? kTlsTemplate : kTemplate);
}

Result<std::string> PostgresServer::CreateEmptyDatabase() { return CreateFrom("template0"); }

Status PostgresServer::RunSql(const std::string& name, const std::string& sql) {
  ESCROW_ASSIGN_OR_RETURN(std::unique_ptr<storage::PgConnection> conn,
                          storage::PgConnection::Open(Connect(name)));
  return conn->Run("test sql", sql);
}

}  // namespace escrow::testing
