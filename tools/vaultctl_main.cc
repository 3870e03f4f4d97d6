// vaultctl: the escrow vault's key-ceremony and operations tool (API.md, "Operator commands").
//
// Each command registers its options on the CLI11 app and sets `run` to what executes it, so a
// command can live in its own file (AddXxxCommand) and main() only wires them. Exit codes: 0
// success, 1 the command failed (one line on stderr), 2 bad usage or not implemented yet.

#include <exception>
#include <iostream>
#include <string>

#include "tools/ctl_commands.h"
#include "vault/hardening.h"
#include <CLI/CLI.hpp>

namespace escrow::tools {
namespace {

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

int Main(int argc, char** argv) {
  HardenProcess();
  CLI::App app{"vaultctl: key ceremony and operations of the escrow vault"};
  app.require_subcommand(1);
  CtlRunner run;
  AddInitCommand(app, run);
  AddDevTokenCommand(app, run);
  AddStatusCommand(app, run);
  AddUpgradeCommand(app, run);
  AddMasterKeyCommands(app, run);
  AddDbCommands(app, run);
  AddAuditCommands(app, run);
  AddEscrowCertCommands(app, run);
  AddAuditSigningKeyCommands(app, run);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? kCtlOk : kCtlUsage;
  }
  if (!run) return CtlUsage("no command given (see --help)");
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
