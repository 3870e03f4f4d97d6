// vaultctl db backup --config FILE --out FILE: ops::BackupDatabase.

#include <memory>
#include <string>

#include "tools/ctl_commands.h"
#include "vault/ops/db_backup.h"
#include "vault/ops/vault_access.h"

namespace escrow::tools {

void AddDbCommands(CLI::App& app, CtlRunner& run) {
  struct Args {
    std::string config, out;
  };
  auto args = std::make_shared<Args>();
  CLI::App* db = app.add_subcommand("db", "Database operations");
  db->require_subcommand(1);
  CLI::App* cmd = db->add_subcommand("backup", "Consistent online copy of the database");
  cmd->add_option("--config", args->config, "vault.conf")->required();
  cmd->add_option("--out", args->out, "The copy to write (must not exist)")->required();
  cmd->callback([args, &run] {
    run = [args]() -> int {
      CtlPrepareSecrets();
      Result<vault::VaultConfig> config = LoadCtlConfig(args->config);
      if (!config.ok()) return CtlFail(config.status(), "db backup");
      Result<ops::OpenedVault> vault = ops::OpenVault(*config, true);
      if (!vault.ok()) return CtlFail(vault.status(), "db backup");
      Result<ops::DbBackupReport> report = ops::BackupDatabase({args->out}, vault->view());
      if (!report.ok()) return CtlFail(report.status(), "db backup");
      return CtlPrint(report->text);
    };
  });
}

}  // namespace escrow::tools
