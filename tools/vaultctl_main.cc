// vaultctl: the escrow vault's key-ceremony and operations tool (API.md, "Operator commands").
//
// Each command registers its options on the CLI11 app and sets `run` to what executes it, so a
// command can live in its own file (AddXxxCommand) and main() only wires them. Exit codes: 0
// success, 1 the command failed (one line on stderr), 2 bad usage or not implemented yet.

#include <chrono>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <functional>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "base/clock.h"
#include "tools/ctl_commands.h"
#include "tools/dev_state.h"
#include "tools/dev_token.h"
#include "vault/config.h"
#include "vault/hardening.h"

namespace escrow::tools {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

using Runner = std::function<int()>;

int Fail(const Status& status) {
  std::cerr << "vaultctl: " << status.message() << "\n";
  return kExitFailed;
}

int Usage(std::string_view message) {
  std::cerr << "vaultctl: " << message << "\n";
  return kExitUsage;
}

// No core file and no ptrace by other processes of the same user, umask 077, the secure heap
// locked: PINs and key material pass through this process (vault/hardening.h). Whether all of
// memory could be locked too is vaultd's warning to give, not one on every command.
void HardenProcess() {
  Result<vault::HardeningReport> report = vault::HardenProcess();
  if (!report.ok()) {
    std::cerr << "vaultctl: warning: " << report.status().message() << "\n";
    return;
  }
  for (const std::string& warning : report->warnings) {
    std::cerr << "vaultctl: warning: " << warning << "\n";
  }
}

// vaultctl init --state-dir DIR --dev [--listen HOST:PORT] [--backup-capable]
// vaultctl init --config FILE --module PATH --token-label L --pin-file F ... (ceremony issue)
void AddInitCommand(CLI::App& app, Runner& run) {
  struct Args {
    std::string state_dir;
    bool dev = false;
    std::string listen = "127.0.0.1:8443";
    bool backup_capable = false;
    std::string config, module, token_label, pin_file, so_pin_file, db;
  };
  auto args = std::make_shared<Args>();
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
  cmd->add_option("--pin-file", args->pin_file, "User PIN file (production)");
  cmd->add_option("--so-pin-file", args->so_pin_file, "SO PIN file (production)");
  cmd->add_option("--db", args->db, "Database path (production)");
  cmd->callback([args, &run] {
    run = [args]() -> int {
      if (!args->dev) {
        if (args->config.empty()) return Usage("init needs --dev --state-dir DIR or --config FILE");
        if (!args->state_dir.empty()) return Usage("init --config takes no --state-dir");
        return RunInitCeremony({args->config, args->module, args->token_label, args->pin_file,
                                args->so_pin_file, args->db, args->backup_capable});
      }
      if (args->state_dir.empty()) return Usage("init --dev needs --state-dir DIR");
      if (!args->config.empty() || !args->module.empty() || !args->token_label.empty() ||
          !args->pin_file.empty() || !args->so_pin_file.empty() || !args->db.empty()) {
        return Usage("init --dev takes only --state-dir, --listen and --backup-capable");
      }
      DevInitOptions options;
      options.state_dir = args->state_dir;
      options.listen = args->listen;
      options.backup_capable = args->backup_capable;
      Result<std::string> transcript = InitDevState(options);
      if (!transcript.ok()) return Fail(transcript.status().WithContext("init"));
      std::cout << *transcript << std::flush;
      return kExitOk;
    };
  });
}

// vaultctl dev-token --state-dir DIR --sub USER [--roles R1,R2] [--ttl S] [--nbf S]
//                    [--iss X] [--aud X]
void AddDevTokenCommand(CLI::App& app, Runner& run) {
  struct Args {
    std::string state_dir, sub, roles, iss, aud;
    std::int64_t ttl = 3600;
    std::optional<std::int64_t> nbf;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("dev-token", "Print a JWT of the development IdP");
  cmd->add_option("--state-dir", args->state_dir, "Development state directory")->required();
  cmd->add_option("--sub", args->sub, "Subject (the user)")->required();
  cmd->add_option("--roles", args->roles, "Comma-separated roles, e.g. helpdesk,admin");
  cmd->add_option("--ttl", args->ttl, "Seconds until exp (may be negative)")
      ->capture_default_str();
  cmd->add_option("--nbf", args->nbf, "nbf in seconds from now (may be negative)");
  cmd->add_option("--iss", args->iss, "Issuer (default: the config's first issuer)");
  cmd->add_option("--aud", args->aud, "Audience (default: the config's audience)");
  cmd->callback([args, &run] {
    run = [args]() -> int {
      const std::filesystem::path dir(args->state_dir);
      DevTokenClaims claims;
      claims.sub = args->sub;
      claims.roles = SplitRoles(args->roles);
      claims.iss = args->iss;
      claims.aud = args->aud;
      if (claims.iss.empty() || claims.aud.empty()) {
        Result<vault::VaultConfig> config = vault::LoadConfig((dir / "vault.conf").string());
        if (!config.ok()) return Fail(config.status().WithContext("dev-token"));
        if (!config->dev) return Usage("dev-token works only on a dev state (dev = true)");
        if (claims.iss.empty() && !config->issuers.empty()) claims.iss = config->issuers.front();
        if (claims.aud.empty()) claims.aud = config->audience;
      }
      const std::int64_t now = ToUnixSeconds(Clock::System().Now());
      claims.iat = now;
      claims.exp = now + args->ttl;
      if (args->nbf) claims.nbf = now + *args->nbf;
      Result<std::string> token = MintDevToken(claims, dir / "idp" / "dev-signing.key");
      if (!token.ok()) return Fail(token.status().WithContext("dev-token"));
      std::cout << *token << "\n" << std::flush;
      return kExitOk;
    };
  });
}

int Main(int argc, char** argv) {
  HardenProcess();
  CLI::App app{"vaultctl: key ceremony and operations of the escrow vault"};
  app.require_subcommand(1);
  Runner run;
  AddInitCommand(app, run);
  AddDevTokenCommand(app, run);
  AddStatusCommand(app, run);
  AddMasterKeyCommands(app, run);
  AddDbCommands(app, run);
  AddAuditCommands(app, run);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }
  if (!run) return Usage("no command given (see --help)");
  return run();
}

}  // namespace
}  // namespace escrow::tools

int main(int argc, char** argv) {
  try {
    return escrow::tools::Main(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "vaultctl: " << e.what() << "\n";
    return 1;
  }
}
