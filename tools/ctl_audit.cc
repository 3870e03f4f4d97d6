// vaultctl audit verify [--expect-head SEQ:HASH], audit verify --signed-by PUBKEY.pem --export
// FILE, audit accept-head --yes and audit export [--since T] --format jsonl: ops::VerifyAudit,
// ops::VerifySignedExport, ops::AcceptHead and ops::ExportAudit.

#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include "base/clock.h"
#include "tools/ctl_commands.h"
#include "vault/ops/audit_ops.h"
#include "vault/ops/files.h"
#include "vault/ops/vault_access.h"
#include "vault/signed_checkpoint.h"

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

// With a signing key's public key alone (no config, no HSM): exit 0 with the newest signed
// head as the only stdout line (what was verified on stderr), or 1 naming what failed.
int VerifySigned(const std::string& key_path, const std::string& export_path) {
  Result<std::string> pem = ops::ReadSmallFile(key_path, std::size_t{16} * 1024);
  if (!pem.ok()) return CtlUsage("audit verify: cannot read --signed-by " + key_path);
  Result<Bytes> key = vault::PublicKeyFromPem(*pem);
  if (!key.ok()) {
    return CtlUsage("audit verify: --signed-by must be an EC P-256 public key (PEM)");
  }
  std::ifstream in(export_path, std::ios::binary);
  if (!in) return CtlUsage("audit verify: cannot read --export " + export_path);
  Result<ops::SignedExportReport> report = ops::VerifySignedExport(in, *key);
  if (!report.ok()) {
    std::cerr << "vaultctl: audit verify: FAILED: " << report.status().message() << "\n";
    return kCtlFailed;
  }
  const ops::SignedExportReport& r = *report;
  std::cerr << "records " << r.first_seq << ".." << r.head.seq << ": the hash chain links\n"
            << "checkpoints: " << r.verified << " verified under the key"
            << (r.other_key != 0 ? ", " + std::to_string(r.other_key) + " of other keys" : "")
            << "\nnewest signed head: " << r.signed_head.seq << ":" << r.signed_head.hash << " at "
            << FormatRfc3339(FromUnixMillis(r.signed_at_ms)) << "\n";
  if (r.head.seq > r.signed_head.seq) {
    std::cerr << "records after it, not covered by a signature: " << r.head.seq - r.signed_head.seq
              << "\n";
  }
  return CtlPrint(std::to_string(r.signed_head.seq) + ":" + r.signed_head.hash + "\n");
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
    std::string config, expect_head, since, format, signed_by, export_file;
    bool yes = false;
  };
  auto args = std::make_shared<Args>();
  CLI::App* audit = app.add_subcommand("audit", "Audit trail");
  audit->require_subcommand(1);
  CLI::App* verify = audit->add_subcommand("verify", "Verify the audit chain");
  CLI::Option* config = verify->add_option("--config", args->config, "vault.conf");
  CLI::Option* expect =
      verify->add_option("--expect-head", args->expect_head,
                         "SEQ:HASH kept outside the vault; an older head is a rollback");
  CLI::Option* signed_by = verify->add_option(
      "--signed-by", args->signed_by,
      "PUBKEY.pem: check an export's signed checkpoints with this key alone (no config, no HSM)");
  CLI::Option* export_file =
      verify->add_option("--export", args->export_file, "FILE: the `audit export` to check");
  signed_by->needs(export_file);
  export_file->needs(signed_by);
  signed_by->excludes(config);
  signed_by->excludes(expect);
  verify->callback([args, &run] {
    run = [args]() -> int {
      if (!args->signed_by.empty()) return VerifySigned(args->signed_by, args->export_file);
      if (args->config.empty()) {
        return CtlUsage("audit verify: --config, or --signed-by with --export, is required");
      }
      return Verify(args->config, args->expect_head);
    };
  });
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
