// vaultctl upgrade --config FILE: ops::Upgrade, the ceremony that brings a first-release vault
// to this release (its keys, fingerprints and state records). Run with vaultd stopped.

#include <memory>
#include <string>

#include "tools/ctl_commands.h"
#include "vault/ops/upgrade.h"
#include "vault/ops/vault_access.h"

namespace escrow::tools {

void AddUpgradeCommand(CLI::App& app, CtlRunner& run) {
  auto config = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand(
      "upgrade", "Create the keys this release needs, fingerprint versions, write state records");
  cmd->add_option("--config", *config, "vault.conf")->required();
  cmd->callback([config, &run] {
    run = [config]() -> int {
      CtlPrepareSecrets();
      Result<vault::VaultConfig> loaded = LoadCtlConfig(*config);
      if (!loaded.ok()) return CtlFail(loaded.status(), "upgrade");
      Result<ops::OpenedVault> vault = ops::OpenVault(*loaded, true);
      if (!vault.ok()) return CtlFail(vault.status(), "upgrade");
      Result<ops::UpgradeReport> report = ops::Upgrade(vault->view());
      if (!report.ok()) return CtlFail(report.status(), "upgrade");
      return CtlPrint(ops::RenderUpgrade(*report));
    };
  });
}

}  // namespace escrow::tools
