// vaultctl audit verify [--expect-head SEQ:HASH], audit accept-head --yes and audit export
// [--since T] --format jsonl: ops::VerifyAudit, ops::AcceptHead and ops::ExportAudit.

#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include "base/clock.h"
#include "tools/ctl_commands.h"
#include "vault/ops/audit_ops.h"
#include "vault/ops/vault_access.h"

namespace escrow::tools {
namespace {

// Exit 0 with the head as the only stdout line, or 1 naming the first bad record.
int Verify(const std::string& config_path, const std::string& expect) {
  CtlPrepareSecrets();
  Result<vault::VaultConfig> config = LoadCtlConfig(config_path);
  if (!config.ok()) return CtlFail(config.status(), "audit verify");
  ops::AuditVerifyOptions options;
  if (!expect.empty()) {
    Result<vault::AuditHead> head = ops::ParseAuditHead(expect);
    if (!head.ok()) return CtlUsage(head.status().message());
    options.expected = *head;
  }
  // Not started: Start() would refuse a database whose head fails its MAC before Verify
  // could name the first bad record.
  Result<ops::OpenedVault> vault = ops::OpenVault(*config, false);
  if (!vault.ok()) return CtlFail(vault.status(), "audit verify");
  Result<vault::AuditVerifyReport> report = ops::VerifyAudit(options, vault->view());
  if (!report.ok()) return CtlFail(report.status(), "audit verify");
  if (!report->ok) {
    std::cerr << "vaultctl: audit verify: FAILED at record "
              << (report->first_bad ? std::to_string(*report->first_bad) : std::string("?")) << ": "
              << report->problem << " (" << report->records << " records before it verified)\n";
    return kCtlFailed;
  }
  return CtlPrint(std::to_string(report->head.seq) + ":" + report->head.hash + "\n");
}

int Export(const std::string& config_path, const std::string& since_text,
           const std::string& format) {
  Result<vault::VaultConfig> config = LoadCtlConfig(config_path);
  if (!config.ok()) return CtlFail(config.status(), "audit export");
  if (format != "jsonl") return CtlUsage("audit export: --format must be jsonl");
  ops::AuditExportOptions options;
  if (!since_text.empty()) {
    options.since = ParseRfc3339(since_text);
    if (!options.since) return CtlUsage("audit export: --since must be an RFC 3339 time");
  }
  // Reads only the database: an export needs no HSM login.
  Result<std::unique_ptr<storage::Store>> store = ops::OpenConfiguredStore(*config, 1);
  if (!store.ok()) return CtlFail(store.status(), "audit export");
  Result<ops::AuditExportReport> report = ops::ExportAudit(options, **store, std::cout);
  if (!report.ok()) {
    // A broken stdout is exit 1 without a message there is nowhere to print anyway.
    if (!std::cout.good()) return kCtlFailed;
    return CtlFail(report.status(), "audit export");
  }
  return kCtlOk;
}

// Verifies the chain, records both heads and keeps the new one on the token.
int AcceptHead(const std::string& config_path, bool yes) {
  if (!yes) {
    return CtlUsage("audit accept-head: accepting a database as the vault's trail needs --yes");
  }
  CtlPrepareSecrets();
  Result<vault::VaultConfig> config = LoadCtlConfig(config_path);
  if (!config.ok()) return CtlFail(config.status(), "audit accept-head");
  Result<ops::OpenedVault> vault = ops::OpenVault(*config, true);
  if (!vault.ok()) return CtlFail(vault.status(), "audit accept-head");
  Result<ops::AcceptHeadReport> report = ops::AcceptHead(vault->view());
  if (!report.ok()) return CtlFail(report.status(), "audit accept-head");
  const std::string previous =
      report->previous ? std::to_string(report->previous->seq) + ":" + report->previous->hash
                       : "none";
  return CtlPrint("accept-head\n  token checkpoint before: " + previous +
                  "\n  database head accepted:  " + std::to_string(report->accepted.seq) + ":" +
                  report->accepted.hash + "\n  token checkpoint now:    " +
                  std::to_string(report->kept.seq) + ":" + report->kept.hash + "\n");
}

}  // namespace

void AddAuditCommands(CLI::App& app, CtlRunner& run) {
  struct Args {
    std::string config, expect_head, since, format;
    bool yes = false;
  };
  auto args = std::make_shared<Args>();
  CLI::App* audit = app.add_subcommand("audit", "Audit trail");
  audit->require_subcommand(1);
  CLI::App* verify = audit->add_subcommand("verify", "Verify the audit chain");
  verify->add_option("--config", args->config, "vault.conf")->required();
  verify->add_option("--expect-head", args->expect_head,
                     "SEQ:HASH kept outside the vault; an older head is a rollback");
  verify->callback(
      [args, &run] { run = [args]() -> int { return Verify(args->config, args->expect_head); }; });
  CLI::App* accept = audit->add_subcommand(
      "accept-head", "Accept a database restored from backup: keep its head on the token");
  accept->add_option("--config", args->config, "vault.conf")->required();
  accept->add_flag("--yes", args->yes, "Confirm");
  accept->callback(
      [args, &run] { run = [args]() -> int { return AcceptHead(args->config, args->yes); }; });
  CLI::App* exp = audit->add_subcommand("export", "Export the audit records for a SIEM");
  exp->add_option("--config", args->config, "vault.conf")->required();
  exp->add_option("--since", args->since, "Only records at or after this RFC 3339 time");
  exp->add_option("--format", args->format, "jsonl")->required();
  exp->callback([args, &run] {
    run = [args]() -> int { return Export(args->config, args->since, args->format); };
  });
}

}  // namespace escrow::tools
