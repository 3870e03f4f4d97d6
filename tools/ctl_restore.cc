// vaultctl master-key restore --config FILE --backup DIR/keys.backup --share F [--share F]...
//                             [--so-pin-file F] [--add]: ops::RestoreKeys. Also wires
//                             `master-key`.

#include <memory>
#include <string>
#include <vector>

#include "tools/ctl_commands.h"
#include "vault/ops/key_backup.h"

namespace escrow::tools {

void AddRestoreCommand(CLI::App& master_key, CtlRunner& run) {
  struct Args {
    std::string config, backup, so_pin_file;
    std::vector<std::string> shares;
    bool add = false;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = master_key.add_subcommand("restore", "Restore the keys from shares");
  cmd->add_option("--config", args->config, "vault.conf")->required();
  cmd->add_option("--backup", args->backup, "DIR/keys.backup")->required();
  cmd->add_option("--share", args->shares, "A plain (decrypted) share file; repeat")->required();
  cmd->add_option("--so-pin-file", args->so_pin_file,
                  "SO PIN, to initialise the token if it does not exist (default with "
                  "dev = true only: the dev state's hsm/so.pin)");
  cmd->add_flag("--add", args->add,
                "Import only the key versions the token lacks (keys it has must be the "
                "backup's), e.g. to follow a rotation done on another node's token");
  cmd->callback([args, &run] {
    run = [args]() -> int {
      CtlPrepareSecrets();
      Result<vault::VaultConfig> config = LoadCtlConfig(args->config);
      if (!config.ok()) return CtlFail(config.status(), "master-key restore");
      Result<ops::KeyRestoreReport> report =
          ops::RestoreKeys({*config, args->backup, args->shares, args->so_pin_file, args->add});
      if (!report.ok()) return CtlFail(report.status(), "master-key restore");
      return CtlPrint(report->transcript);
    };
  });
}

void AddMasterKeyCommands(CLI::App& app, CtlRunner& run) {
  CLI::App* master = app.add_subcommand("master-key", "Master-key rotation, backup and restore");
  master->require_subcommand(1);
  AddRotateCommand(*master, run);
  AddBackupCommand(*master, run);
  AddRestoreCommand(*master, run);
}

}  // namespace escrow::tools
