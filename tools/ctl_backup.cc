// vaultctl master-key backup --config FILE --shares N --threshold M --out DIR
//                            [--so-pin-file F] [--recipient CERT]...: ops::BackupKeys.

#include <memory>
#include <string>
#include <vector>

#include "tools/ctl_commands.h"
#include "vault/ops/key_backup.h"

namespace escrow::tools {

void AddBackupCommand(CLI::App& master_key, CtlRunner& run) {
  struct Args {
    std::string config, out, so_pin_file;
    unsigned shares = 0;
    unsigned threshold = 0;
    std::vector<std::string> recipients;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = master_key.add_subcommand("backup", "Back up the keys as Shamir shares");
  cmd->add_option("--config", args->config, "vault.conf")->required();
  cmd->add_option("--shares", args->shares, "Number of shares N (2..255)")->required();
  cmd->add_option("--threshold", args->threshold, "Shares needed to restore M (2..N)")->required();
  cmd->add_option("--out", args->out,
                  "Directory for keys.backup and share-1 ... share-N: new, or empty, yours "
                  "and mode 0700")
      ->required();
  cmd->add_option("--so-pin-file", args->so_pin_file,
                  "SO PIN (required unless the config says dev = true: then the dev state's "
                  "hsm/so.pin)");
  cmd->add_option("--recipient", args->recipients,
                  "One custodian certificate per share: share-i is CMS-encrypted to the i-th");
  cmd->callback([args, &run] {
    run = [args]() -> int {
      if (args->threshold < 2 || args->threshold > args->shares || args->shares > 255) {
        return CtlUsage("master-key backup needs 2 <= --threshold <= --shares <= 255");
      }
      if (!args->recipients.empty() && args->recipients.size() != args->shares) {
        return CtlUsage("give one --recipient per share (" + std::to_string(args->shares) +
                        "), or none");
      }
      CtlPrepareSecrets();
      Result<vault::VaultConfig> config = LoadCtlConfig(args->config);
      if (!config.ok()) return CtlFail(config.status(), "master-key backup");
      Result<ops::KeyBackupReport> report = ops::BackupKeys(
          {*config, args->out, args->so_pin_file, args->shares, args->threshold, args->recipients});
      if (!report.ok()) return CtlFail(report.status(), "master-key backup");
      return CtlPrint(report->transcript);
    };
  });
}

}  // namespace escrow::tools
