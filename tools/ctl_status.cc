// vaultctl status --config FILE: ops::DescribeStatus. Reads only; writes nothing.

#include <memory>
#include <string>

#include "tools/ctl_commands.h"
#include "vault/ops/status.h"
#include "vault/ops/vault_access.h"

namespace escrow::tools {

void AddStatusCommand(CLI::App& app, CtlRunner& run) {
  auto config = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand("status", "Show the HSM keys, database and audit head");
  cmd->add_option("--config", *config, "vault.conf")->required();
  cmd->callback([config, &run] {
    run = [config]() -> int {
      CtlPrepareSecrets();
      Result<vault::VaultConfig> loaded = LoadCtlConfig(*config);
      if (!loaded.ok()) return CtlFail(loaded.status(), "status");
      Result<ops::OpenedVault> vault = ops::OpenVault(*loaded, false);
      if (!vault.ok()) return CtlFail(vault.status(), "status");
      Result<ops::StatusReport> report = ops::DescribeStatus(vault->view());
      if (!report.ok()) return CtlFail(report.status(), "status");
      return CtlPrint(ops::RenderStatus(*report));
    };
  });
}

}  // namespace escrow::tools
