// vaultctl audit verify [--expect-head SEQ:HASH] and audit export [--since T] --format jsonl.

#include <iostream>

#include <boost/json.hpp>

#include "base/clock.h"
#include "tools/ctl_commands.h"

namespace escrow::tools {
namespace {

constexpr std::size_t kHashHex = 64;
constexpr std::size_t kPage = 1000;

// "SEQ:HASH" with HASH 64 lowercase hex digits.
Result<vault::AuditHead> ParseHead(std::string_view text) {
  const std::size_t colon = text.find(':');
  const Status bad = Status::InvalidArgument("--expect-head must be SEQ:HASH (64 lowercase hex)");
  if (colon == std::string_view::npos || colon == 0 || colon > 19) return bad;
  const std::string_view seq_text = text.substr(0, colon);
  const std::string_view hash = text.substr(colon + 1);
  if (seq_text.find_first_not_of("0123456789") != std::string_view::npos) return bad;
  if (hash.size() != kHashHex || hash.find_first_not_of("0123456789abcdef") != std::string_view::npos) {
    return bad;
  }
  return vault::AuditHead{std::stoull(std::string(seq_text)), std::string(hash)};
}

// Exit 0 with the head as the only stdout line, or 1 naming the first bad record.
int Verify(const vault::VaultConfig& config, const std::string& expect) {
  std::optional<vault::AuditHead> expected;
  if (!expect.empty()) {
    Result<vault::AuditHead> head = ParseHead(expect);
    if (!head.ok()) return CtlUsage(head.status().message());
    expected = *head;
  }
  // Not started: Start() would refuse a database whose head fails its MAC before Verify
  // could name the first bad record.
  Result<CtlVault> v = OpenCtlVault(config, false);
  if (!v.ok()) return CtlFail(v.status(), "audit verify");
  Result<vault::AuditVerifyReport> report = v->audit->Verify(expected);
  if (!report.ok()) return CtlFail(report.status(), "audit verify");
  if (!report->ok) {
    std::cerr << "vaultctl: audit verify: FAILED at record "
              << (report->first_bad ? std::to_string(*report->first_bad) : std::string("?"))
              << ": " << report->problem << " (" << report->records
              << " records before it verified)\n";
    return kCtlFailed;
  }
  std::cout << report->head.seq << ":" << report->head.hash << "\n" << std::flush;
  return kCtlOk;
}

int Export(const vault::VaultConfig& config, const std::string& since_text,
           const std::string& format) {
  if (format != "jsonl") return CtlUsage("audit export: --format must be jsonl");
  std::optional<std::int64_t> since_ms;
  if (!since_text.empty()) {
    std::optional<TimePoint> since = ParseRfc3339(since_text);
    if (!since) return CtlUsage("audit export: --since must be an RFC 3339 time");
    since_ms = ToUnixMillis(*since);
  }
  // Reads only the database: an export needs no HSM login (verify it with `audit verify`).
  storage::StoreOptions options;
  options.path = config.db_path;
  options.create = false;
  options.read_connections = 1;
  Result<std::unique_ptr<storage::Store>> store = storage::Store::Open(options);
  if (!store.ok()) return CtlFail(store.status(), "audit export");
  std::uint64_t after = 0;
  for (;;) {
    Result<std::vector<storage::AuditRow>> page = storage::ReadValue(
        **store,
        [&](storage::ReadTxn& txn) { return txn.audit().List(after, kPage, std::nullopt); });
    if (!page.ok()) return CtlFail(page.status(), "audit export");
    for (const storage::AuditRow& row : *page) {
      after = row.seq;
      if (since_ms && row.time_ms < *since_ms) continue;
      const vault::AuditRecord r = vault::ToAuditRecord(row);
      boost::json::object line{{"seq", r.seq},
                               {"time", FormatRfc3339(r.time)},
                               {"actor", r.event.actor},
                               {"role", r.event.role},
                               {"action", r.event.action},
                               {"device_id", r.event.device_id},
                               {"outcome", r.event.outcome},
                               {"reason", r.event.reason},
                               {"detail", r.event.detail},
                               {"hash", r.hash},
                               {"sealed", r.sealed}};
      std::cout << boost::json::serialize(line) << "\n";
    }
    if (page->size() < kPage) break;
  }
  std::cout << std::flush;
  return std::cout.good() ? kCtlOk : kCtlFailed;
}

}  // namespace

void AddAuditCommands(CLI::App& app, CtlRunner& run) {
  struct Args {
    std::string config, expect_head, since, format;
  };
  auto args = std::make_shared<Args>();
  CLI::App* audit = app.add_subcommand("audit", "Audit trail");
  audit->require_subcommand(1);
  CLI::App* verify = audit->add_subcommand("verify", "Verify the audit chain");
  verify->add_option("--config", args->config, "vault.conf")->required();
  verify->add_option("--expect-head", args->expect_head,
                     "SEQ:HASH kept outside the vault; an older head is a rollback");
  verify->callback([args, &run] {
    run = [args]() -> int {
      CtlPrepareSecrets();
      Result<vault::VaultConfig> config = LoadCtlConfig(args->config);
      if (!config.ok()) return CtlFail(config.status(), "audit verify");
      return Verify(*config, args->expect_head);
    };
  });
  CLI::App* exp = audit->add_subcommand("export", "Export the audit records for a SIEM");
  exp->add_option("--config", args->config, "vault.conf")->required();
  exp->add_option("--since", args->since, "Only records at or after this RFC 3339 time");
  exp->add_option("--format", args->format, "jsonl")->required();
  exp->callback([args, &run] {
    run = [args]() -> int {
      Result<vault::VaultConfig> config = LoadCtlConfig(args->config);
      if (!config.ok()) return CtlFail(config.status(), "audit export");
      return Export(*config, args->since, args->format);
    };
  });
}

}  // namespace escrow::tools
