// vaultctl db backup --config FILE --out FILE: a consistent online copy of the database.

#include <iostream>
#include <system_error>

#include <boost/json.hpp>

#include "base/clock.h"
#include "tools/ctl_commands.h"

namespace escrow::tools {
namespace {

namespace fs = std::filesystem;

// The newest audit record of the database file at `path`, read through the same store code
// (the copy is a complete vault database).
Result<vault::AuditHead> HeadOf(const fs::path& path) {
  storage::StoreOptions options;
  options.path = path.string();
  options.create = false;
  options.read_connections = 1;
  ESCROW_ASSIGN_OR_RETURN(std::unique_ptr<storage::Store> copy, storage::Store::Open(options));
  ESCROW_RETURN_IF_ERROR(copy->IntegrityCheck());
  ESCROW_ASSIGN_OR_RETURN(
      std::optional<storage::AuditRow> last,
      storage::ReadValue(*copy, [](storage::ReadTxn& txn) { return txn.audit().Last(); }));
  if (!last) return vault::AuditHead{0, std::string(64, '0')};
  return vault::AuditHead{last->seq, HexEncode(last->hash)};
}

Result<std::string> BackupDatabase(const vault::VaultConfig& config, const std::string& out) {
  const fs::path path = fs::absolute(out).lexically_normal();
  std::error_code ec;
  if (fs::exists(fs::symlink_status(path, ec))) {
    return Status::AlreadyExists(path.string() + " exists; db backup writes a new file");
  }
  ESCROW_ASSIGN_OR_RETURN(CtlVault v, OpenCtlVault(config, true));
  // SQLite's online backup API: a consistent snapshot while vaultd keeps writing.
  ESCROW_RETURN_IF_ERROR(v.store->BackupTo(path.string()));
  Result<vault::AuditHead> head = HeadOf(path);
  if (!head.ok()) return head.status().WithContext("reading the copy " + path.string());
  const std::string head_text = std::to_string(head->seq) + ":" + head->hash;
  const std::string time = FormatRfc3339(Clock::System().Now());
  boost::json::object record{{"time", time}, {"path", path.string()}, {"audit_head", head_text}};
  const std::string meta = boost::json::serialize(record);
  ESCROW_RETURN_IF_ERROR(AuditCeremony(
      *v.audit, "ceremony.db_backup", meta,
      [&meta](storage::WriteTxn& txn) { return txn.meta().Set("last_backup", meta); }));
  return "database backup: " + path.string() + "\naudit head in the backup: " + head_text + "\n";
}

}  // namespace

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
      return CtlPrint(BackupDatabase(*config, args->out), "db backup");
    };
  });
}

}  // namespace escrow::tools
