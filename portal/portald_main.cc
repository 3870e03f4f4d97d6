// portald: the reference self-service pages (API.md, "The reference portal"). Loads
// portal.conf, reads the pages, and serves them over HTTPS until SIGTERM/SIGINT, calling
// vaultd over mTLS as the frontend client. Logs one JSON object per line to stderr, never a
// key, token, cookie or request body; logs {"event":"ready","listen":"HOST:PORT","url":...}
// once serving. Every failure to start is {"event":"fatal","error":...} and exit status 1.
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <exception>
#include <memory>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "auth/jwt_signer.h"
#include "base/host_port.h"
#include "base/log.h"
#include "portal/https_server.h"
#include "portal/oidc_provider_client.h"
#include "portal/portal_app.h"
#include "portal/portal_config.h"

#ifndef ESCROW_PORTAL_STATIC_DIR
#error "ESCROW_PORTAL_STATIC_DIR must name the built-in pages' directory"
#endif

namespace escrow::portal {
namespace {

int Fatal(const std::string& error) {
  LogError("fatal", error);
  return 1;
}

Status CheckPrivateFile(const std::string& what, const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return Status::InvalidArgument(what + " " + path + ": " + std::strerror(errno));
  }
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    return Status::InvalidArgument(what + " " + path +
                                   " is accessible by group or others (chmod 600 it)");
  }
  return Status::Ok();
}

int Run(int argc, char** argv) {
  CLI::App cli{"portald: the escrow vault's reference self-service pages"};
  std::string config_path;
  std::string listen;
  cli.add_option("--config", config_path, "portal.conf (TOML)")->required();
  cli.add_option("--listen", listen, "HOST:PORT (port 0 picks a free one)");
  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return cli.exit(e);
    return Fatal(e.what());
  }
  // Keys pass through this process: no core dumps, no ptrace by other users.
  const rlimit no_core{0, 0};
  (void)::setrlimit(RLIMIT_CORE, &no_core);
  (void)::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);

  Result<PortalConfig> loaded = LoadPortalConfig(config_path);
  if (!loaded.ok()) return Fatal(loaded.status().message());
  const PortalConfig& config = *loaded;
  if (listen.empty()) listen = config.listen;
  const Result<HostPort> hp = ParseHostPort(listen, "listen address");
  if (!hp.ok()) return Fatal(hp.status().message());
  if (config.dev && !IsLoopbackHost(hp->host)) {
    return Fatal("a dev portal serves on loopback only, not " + listen);
  }
  for (const auto& [what, path] : {std::pair{"TLS private key", config.tls_key},
                                   std::pair{"client key", config.client_key}}) {
    if (Status s = CheckPrivateFile(what, path); !s.ok()) return Fatal(s.message());
  }
  Result<StaticFiles> files = StaticFiles::Load(
      config.static_dir.empty() ? std::string(ESCROW_PORTAL_STATIC_DIR) : config.static_dir);
  if (!files.ok()) return Fatal(files.status().message());
  Result<std::unique_ptr<HttpsClient>> vault = HttpsClient::ForVault(config);
  if (!vault.ok()) return Fatal(vault.status().message());
  std::optional<auth::JwtSigner> dev_signer;
  if (config.dev && !config.dev_signin.signing_key.empty()) {
    if (Status s = CheckPrivateFile("dev signing key", config.dev_signin.signing_key); !s.ok()) {
      return Fatal(s.message());
    }
    Result<auth::JwtSigner> signer = auth::JwtSigner::FromPemFile(config.dev_signin.signing_key, "dev");
    if (!signer.ok()) return Fatal(signer.status().message());
    dev_signer = std::move(*signer);
  }
  std::unique_ptr<OidcSignIn> oidc;
  if (!config.oidc.issuer.empty()) {
    Result<std::unique_ptr<OidcSignIn>> made = MakeOidcSignIn(config.oidc, Clock::System());
    if (!made.ok()) return Fatal("oidc: " + made.status().message());
    oidc = std::move(*made);
  }
  PortalApp app(config, Clock::System(), std::move(*files), std::move(*vault),
                std::move(dev_signer), std::move(oidc));
  Result<std::unique_ptr<HttpsServer>> server = HttpsServer::Create(config, listen, app);
  if (!server.ok()) return Fatal(server.status().message());
  LogJson({{"event", "ready"},
           {"listen", (*server)->listen_address()},
           {"url", "https://" + (*server)->listen_address() + "/"}});
  (*server)->Run();
  LogInfo("stopped", "portald stopped");
  return 0;
}

}  // namespace
}  // namespace escrow::portal

int main(int argc, char** argv) {
  try {
    return escrow::portal::Run(argc, argv);
  } catch (const std::exception& e) {
    escrow::LogError("fatal", e.what());
    return 1;
  }
}
