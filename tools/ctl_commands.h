#pragma once

// The commands of vaultctl (API.md, "Operator commands"), each registered on the CLI11 app by
// its own file: flags -> options -> one ceremony of vault/ops -> its result printed. main()
// only wires them.

#include "tools/ctl_common.h"
#include <CLI/CLI.hpp>

namespace escrow::tools {

// vaultctl init --state-dir DIR --dev [--listen HOST:PORT] [--backup-capable]
// vaultctl init --config FILE --module PATH --token-label L --pin-file F [--so-pin-file F]
//               [--db PATH] [--backup-capable]                 (tools/ctl_init.cc)
void AddInitCommand(CLI::App& app, CtlRunner& run);
// vaultctl dev-token --state-dir DIR --sub USER ...             (tools/ctl_dev_token.cc)
void AddDevTokenCommand(CLI::App& app, CtlRunner& run);
// vaultctl status --config FILE                                (tools/ctl_status.cc)
void AddStatusCommand(CLI::App& app, CtlRunner& run);
void AddUpgradeCommand(CLI::App& app, CtlRunner& run);
// vaultctl master-key rotate | backup | restore                (ctl_rotate.cc, ctl_backup.cc,
//                                                               ctl_restore.cc)
void AddMasterKeyCommands(CLI::App& app, CtlRunner& run);
// vaultctl db backup --config FILE --out FILE                  (tools/ctl_db.cc)
void AddDbCommands(CLI::App& app, CtlRunner& run);
// vaultctl audit verify | export                               (tools/ctl_audit.cc)
void AddAuditCommands(CLI::App& app, CtlRunner& run);
// vaultctl escrow-cert create | list | retire                  (tools/ctl_escrow_cert.cc)
void AddEscrowCertCommands(CLI::App& app, CtlRunner& run);
// vaultctl audit-signing-key create --config FILE               (tools/ctl_audit_signing_key.cc)
void AddAuditSigningKeyCommands(CLI::App& app, CtlRunner& run);

// The subcommands of `master-key`, one per file.
void AddRotateCommand(CLI::App& master_key, CtlRunner& run);
void AddBackupCommand(CLI::App& master_key, CtlRunner& run);
void AddRestoreCommand(CLI::App& master_key, CtlRunner& run);

}  // namespace escrow::tools
