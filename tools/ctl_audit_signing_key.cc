// vaultctl audit-signing-key create (API.md, "HSM modules and signed audit checkpoints"):
// ops::CreateAuditSigningKey.

#include <memory>
#include <string>

#include "tools/ctl_commands.h"
#include "vault/ops/audit_signing_key.h"
#include "vault/ops/vault_access.h"

namespace escrow::tools {

void AddAuditSigningKeyCommands(CLI::App& app, CtlRunner& run) {
  CLI::App* group = app.add_subcommand(
      "audit-signing-key", "The HSM key that signs audit checkpoints for outside auditors");
  group->require_subcommand(1);
  auto config = std::make_shared<std::string>();
  CLI::App* create = group->add_subcommand(
      "create", "Generate the next audit signing key in the HSM and print its public key");
  create->add_option("--config", *config, "vault.conf")->required();
  create->callback([config, &run] {
    run = [config]() -> int {
      CtlPrepareSecrets();
      Result<vault::VaultConfig> loaded = LoadCtlConfig(*config);
      if (!loaded.ok()) return CtlFail(loaded.status(), "audit-signing-key create");
      Result<ops::OpenedVault> vault = ops::OpenVault(*loaded, true);
      if (!vault.ok()) return CtlFail(vault.status(), "audit-signing-key create");
      Result<ops::AuditSigningKeyReport> report = ops::CreateAuditSigningKey(vault->view());
      if (!report.ok()) return CtlFail(report.status(), "audit-signing-key create");
      return CtlPrint(ops::RenderAuditSigningKey(*report));
    };
  });
}

}  // namespace escrow::tools
