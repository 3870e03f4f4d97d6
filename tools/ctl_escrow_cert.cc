// vaultctl escrow-cert create | list | retire (API.md, "Apple MDM escrow, opened inside the
// HSM"): ops::CreateEscrowCert, ops::ListEscrowCerts and ops::RetireEscrowCert.

#include <cstdint>
#include <memory>
#include <string>

#include "tools/ctl_commands.h"
#include "vault/ops/escrow_cert.h"
#include "vault/ops/vault_access.h"

namespace escrow::tools {
namespace {

void AddCreate(CLI::App& parent, CtlRunner& run) {
  struct Flags {
    std::string config;
    ops::EscrowCertOptions options;
  };
  auto f = std::make_shared<Flags>();
  CLI::App* cmd = parent.add_subcommand(
      "create", "Generate an escrow key in the HSM and make its fleet certificate current");
  cmd->add_option("--config", f->config, "vault.conf")->required();
  cmd->add_option("--subject", f->options.subject, "the certificate's CN");
  cmd->add_option("--days", f->options.days, "validity in days")->check(CLI::Range(1, 3650));
  cmd->add_option("--bits", f->options.bits, "RSA key size")->check(CLI::IsMember({2048, 3072}));
  cmd->callback([f, &run] {
    run = [f]() -> int {
      CtlPrepareSecrets();
      Result<vault::VaultConfig> loaded = LoadCtlConfig(f->config);
      if (!loaded.ok()) return CtlFail(loaded.status(), "escrow-cert create");
      Result<ops::OpenedVault> vault = ops::OpenVault(*loaded, true);
      if (!vault.ok()) return CtlFail(vault.status(), "escrow-cert create");
      Result<ops::EscrowCertReport> report = ops::CreateEscrowCert(f->options, vault->view());
      if (!report.ok()) return CtlFail(report.status(), "escrow-cert create");
      return CtlPrint(ops::RenderEscrowCert(*report));
    };
  });
}

void AddList(CLI::App& parent, CtlRunner& run) {
  auto config = std::make_shared<std::string>();
  CLI::App* cmd = parent.add_subcommand("list", "List the fleet escrow certificates");
  cmd->add_option("--config", *config, "vault.conf")->required();
  cmd->callback([config, &run] {
    run = [config]() -> int {
      Result<vault::VaultConfig> loaded = LoadCtlConfig(*config);
      if (!loaded.ok()) return CtlFail(loaded.status(), "escrow-cert list");
      Result<std::unique_ptr<storage::Store>> store = ops::OpenConfiguredStore(*loaded, 1);
      if (!store.ok()) return CtlFail(store.status(), "escrow-cert list");
      Result<std::vector<storage::EscrowCertRow>> rows = ops::ListEscrowCerts(**store);
      if (!rows.ok()) return CtlFail(rows.status(), "escrow-cert list");
      return CtlPrint(ops::RenderEscrowCertList(*rows));
    };
  });
}

void AddRetire(CLI::App& parent, CtlRunner& run) {
  struct Flags {
    std::string config;
    std::string serial;
    bool yes = false;
  };
  auto f = std::make_shared<Flags>();
  CLI::App* cmd = parent.add_subcommand(
      "retire", "Retire a fleet certificate: its escrow key stops opening envelopes");
  cmd->add_option("--config", f->config, "vault.conf")->required();
  cmd->add_option("--serial", f->serial, "the certificate's serial (hex)")->required();
  cmd->add_flag("--yes", f->yes, "confirm: envelopes to this key are refused from now on");
  cmd->callback([f, &run] {
    run = [f]() -> int {
      if (!f->yes) {
        return CtlUsage("escrow-cert retire: envelopes to a retired key are refused; needs --yes");
      }
      CtlPrepareSecrets();
      Result<vault::VaultConfig> loaded = LoadCtlConfig(f->config);
      if (!loaded.ok()) return CtlFail(loaded.status(), "escrow-cert retire");
      Result<ops::OpenedVault> vault = ops::OpenVault(*loaded, true);
      if (!vault.ok()) return CtlFail(vault.status(), "escrow-cert retire");
      if (Status s = ops::RetireEscrowCert(f->serial, vault->view()); !s.ok()) {
        return CtlFail(s, "escrow-cert retire");
      }
      return CtlPrint("escrow certificate " + f->serial + " retired\n");
    };
  });
}

}  // namespace

void AddEscrowCertCommands(CLI::App& app, CtlRunner& run) {
  CLI::App* escrow_cert =
      app.add_subcommand("escrow-cert", "Apple MDM escrow keys and certificates (in the HSM)");
  escrow_cert->require_subcommand(1);
  AddCreate(*escrow_cert, run);
  AddList(*escrow_cert, run);
  AddRetire(*escrow_cert, run);
}

}  // namespace escrow::tools
