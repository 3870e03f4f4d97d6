#pragma once

// The ceremony and operations commands of vaultctl (API.md, "Ceremony and operations"), each
// registered on the CLI11 app by its own file; main() only wires them.

#include <string>

#include <CLI/CLI.hpp>

#include "tools/ctl_common.h"

namespace escrow::tools {

struct InitCeremonyOptions {
  std::string config;  // the config file to write; must not exist
  std::string module;
  std::string token_label;
  std::string pin_file;
  std::string so_pin_file;  // to initialise a token that does not exist yet
  std::string db;           // default: vault.db beside the config
  bool backup_capable = false;
};

// vaultctl init --config FILE --module PATH --token-label L --pin-file F [--so-pin-file F]
//               [--db PATH] [--backup-capable]               (tools/ctl_init.cc)
int RunInitCeremony(const InitCeremonyOptions& options);

// vaultctl status --config FILE                              (tools/ctl_status.cc)
void AddStatusCommand(CLI::App& app, CtlRunner& run);
// vaultctl master-key rotate | backup | restore              (ctl_rotate.cc, ctl_backup.cc,
//                                                             ctl_restore.cc)
void AddMasterKeyCommands(CLI::App& app, CtlRunner& run);
// vaultctl db backup --config FILE --out FILE                (tools/ctl_db.cc)
void AddDbCommands(CLI::App& app, CtlRunner& run);
// vaultctl audit verify | export                             (tools/ctl_audit.cc)
void AddAuditCommands(CLI::App& app, CtlRunner& run);

// The subcommands of `master-key`, one per file.
void AddRotateCommand(CLI::App& master_key, CtlRunner& run);
void AddBackupCommand(CLI::App& master_key, CtlRunner& run);
void AddRestoreCommand(CLI::App& master_key, CtlRunner& run);

}  // namespace escrow::tools
