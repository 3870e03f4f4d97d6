// vaultctl init: the production ceremony (--config) or the development state (--dev), both
// ops::Init.

#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <memory>
#include <string>

#include "tools/ctl_commands.h"
#include "tools/ctl_portal_conf.h"
#include "vault/ops/init.h"

namespace escrow::tools {
namespace {

struct InitArgs {
  std::string state_dir;
  bool dev = false;
  std::string listen = "127.0.0.1:8443";
  bool backup_capable = false;
  std::string config, module, token_label, token_uri, init_args, pin_file, so_pin_file, db;
};

int RunProduction(const InitArgs& a) {
  if (a.module.empty() || (a.token_label.empty() && a.token_uri.empty()) || a.pin_file.empty()) {
    return CtlUsage("init --config needs --module, --token-label (or --token) and --pin-file");
  }
  if (!a.token_label.empty() && !a.token_uri.empty()) {
    return CtlUsage("init takes --token-label or --token (a pkcs11: URI), not both");
  }
  CtlPrepareSecrets();
  ops::ProductionInitOptions options{a.config,      a.module, a.token_label,    a.pin_file,
                                     a.so_pin_file, a.db,     a.backup_capable, {}};
  options.token_uri = a.token_uri;
  options.init_args = a.init_args;
  // The token store this process uses, recorded so that vaultd and later ceremonies find it.
  // NOLINTNEXTLINE(concurrency-mt-unsafe): read before any thread starts
  if (const char* conf = std::getenv("SOFTHSM2_CONF"); conf != nullptr && *conf != '\0') {
    options.softhsm_conf = conf;
  }
  Result<ops::InitReport> report = ops::Init(options);
  if (!report.ok()) return CtlFail(report.status(), "init");
  return CtlPrint(report->transcript);
}

int RunDev(const InitArgs& a) {
  ops::DevInitOptions options;
  options.state_dir = a.state_dir;
  options.listen = a.listen;
  options.backup_capable = a.backup_capable;
  // The state's own token store: SoftHSMv2 reads SOFTHSM2_CONF when the module loads, which
  // init does after writing that file.
  const std::filesystem::path conf = ops::DevSoftHsmConf(options.state_dir);
  // NOLINTNEXTLINE(concurrency-mt-unsafe): no other thread exists yet
  if (::setenv("SOFTHSM2_CONF", conf.c_str(), 1) != 0) {
    return CtlFail(Status::Internal("cannot set SOFTHSM2_CONF to " + conf.string()), "init");
  }
  Result<ops::InitReport> report = ops::Init(options);
  if (!report.ok()) return CtlFail(report.status(), "init");
  if (Status s = WriteDevPortalConf(a.state_dir, a.listen); !s.ok()) return CtlFail(s, "init");
  return CtlPrint(report->transcript);
}

}  // namespace

void AddInitCommand(CLI::App& app, CtlRunner& run) {
  auto args = std::make_shared<InitArgs>();
  CLI::App* cmd = app.add_subcommand("init", "Initialise the HSM keys, database and config");
  cmd->add_option("--state-dir", args->state_dir, "Development state directory (with --dev)");
  cmd->add_flag("--dev", args->dev, "Create the development state of API.md");
  cmd->add_option("--listen", args->listen, "HOST:PORT written to vault.conf")
      ->capture_default_str();
  cmd->add_flag("--backup-capable", args->backup_capable,
                "Keys may leave the HSM wrapped under a trusted key (for master-key backup)");
  cmd->add_option("--config", args->config, "Config file to write (production)");
  cmd->add_option("--module", args->module, "PKCS#11 module (production)");
  cmd->add_option("--token-label", args->token_label, "Token label (production)");
  cmd->add_option("--token", args->token_uri,
                  "Token as a PKCS#11 URI, e.g. pkcs11:token=escrow (instead of --token-label)");
  cmd->add_option("--init-args", args->init_args,
                  "String passed to C_Initialize as pReserved (NSS's softoken: configdir=...)");
  cmd->add_option("--pin-file", args->pin_file, "User PIN file (production)");
  cmd->add_option("--so-pin-file", args->so_pin_file, "SO PIN file (production)");
  cmd->add_option("--db", args->db, "Database path (production)");
  cmd->callback([args, &run] {
    run = [args]() -> int {
      const InitArgs& a = *args;
      if (!a.dev) {
        if (a.config.empty()) return CtlUsage("init needs --dev --state-dir DIR or --config FILE");
        if (!a.state_dir.empty()) return CtlUsage("init --config takes no --state-dir");
      } else {
        if (a.state_dir.empty()) return CtlUsage("init --dev needs --state-dir DIR");
        if (!a.config.empty() || !a.module.empty() || !a.token_label.empty() ||
            !a.token_uri.empty() || !a.init_args.empty() || !a.pin_file.empty() ||
            !a.so_pin_file.empty() || !a.db.empty()) {
          return CtlUsage("init --dev takes only --state-dir, --listen and --backup-capable");
        }
      }
      // Whatever a library creates on its own (SQLite's WAL, SoftHSMv2's objects) is private.
      ::umask(077);
      return a.dev ? RunDev(a) : RunProduction(a);
    };
  });
}

}  // namespace escrow::tools
