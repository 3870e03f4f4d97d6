// vaultctl db backup --config FILE --out FILE: ops::BackupDatabase.
// vaultctl db migrate --config FILE --to URL [--password-file F]: storage::CopySqliteToPostgres.

#include <memory>
#include <sstream>
#include <string>

#include "storage/pg_copy.h"
#include "tools/ctl_commands.h"
#include "vault/ops/db_backup.h"
#include "vault/ops/vault_access.h"

namespace escrow::tools {

namespace {

// API.md "PostgreSQL and several nodes". vaultd must be stopped: a write to the SQLite file
// after the copy's snapshot would be lost (the copy refuses a database that holds a vault,
// so it cannot be repeated over a half-used one).
void AddDbMigrate(CLI::App& db, CtlRunner& run) {
  struct Args {
    std::string config, to, password_file;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd =
      db.add_subcommand("migrate", "Copy a SQLite vault into an empty PostgreSQL database");
  cmd->add_option("--config", args->config, "vault.conf (on SQLite)")->required();
  cmd->add_option("--to", args->to, "postgresql://USER@HOST:PORT/DB?sslmode=verify-full")
      ->required();
  cmd->add_option("--password-file", args->password_file, "The database password (mode 0600)");
  cmd->callback([args, &run] {
    run = [args]() -> int {
      Result<vault::VaultConfig> config = LoadCtlConfig(args->config);
      if (!config.ok()) return CtlFail(config.status(), "db migrate");
      if (config->db_path.empty()) {
        return CtlFail(Status::FailedPrecondition("the config's database is not SQLite"),
                       "db migrate");
      }
      storage::StoreOptions target;
      target.url = args->to;
      target.password_file = args->password_file;
      Result<storage::CopyReport> report = storage::CopySqliteToPostgres(config->db_path, target);
      if (!report.ok()) return CtlFail(report.status(), "db migrate");
      std::ostringstream out;
      out << "copied " << config->db_path << " into PostgreSQL:\n";
      for (const auto& [table, rows] : report->tables) out << "  " << table << ": " << rows << "\n";
      out << "audit head: seq " << report->audit_seq << ", hash " << HexEncode(report->audit_hash)
          << " (equal in both)\n"
          << "Now set [database] url (and password_file) in place of path in " << args->config
          << ", and start vaultd.\n";
      return CtlPrint(out.str());
    };
  });
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
      Result<ops::OpenedVault> vault = ops::OpenVault(*config, true);
      if (!vault.ok()) return CtlFail(vault.status(), "db backup");
      Result<ops::DbBackupReport> report = ops::BackupDatabase({args->out}, vault->view());
      if (!report.ok()) return CtlFail(report.status(), "db backup");
      return CtlPrint(report->text);
    };
  });
  AddDbMigrate(*db, run);
}

}  // namespace escrow::tools
