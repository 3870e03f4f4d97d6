// vaultctl status --config FILE: token, keys, active master key, records per master key,
// audit head, schema version, last database backup. Reads only; writes nothing.

#include <iostream>
#include <map>
#include <sstream>

#include <boost/json.hpp>

#include "tools/ctl_commands.h"
#include "vault/meta.h"

namespace escrow::tools {
namespace {

// meta last_backup (JSON written by `db backup`) as one line.
std::string DescribeBackup(const std::optional<std::string>& meta) {
  if (!meta || meta->empty()) return "never";
  boost::system::error_code ec;
  const boost::json::value v = boost::json::parse(*meta, ec);
  if (ec || !v.is_object()) return "unreadable record";
  const boost::json::object& o = v.as_object();
  auto text = [&](const char* key) -> std::string {
    const boost::json::value* f = o.if_contains(key);
    return f != nullptr && f->is_string() ? std::string(f->as_string()) : std::string("?");
  };
  return text("time") + " to " + text("path") + " (audit head " + text("audit_head") + ")";
}

Result<std::string> DescribeStatus(const vault::VaultConfig& config) {
  ESCROW_ASSIGN_OR_RETURN(CtlVault v, OpenCtlVault(config, false));
  const hsm::TokenInfo token = v.keys->token();
  ESCROW_ASSIGN_OR_RETURN(std::vector<hsm::KeyInfo> keys, v.keys->ListKeys());
  Result<std::uint32_t> active =
      vault::ReadMetaVersion(*v.store, vault::MetaKey::kActiveMasterKeyVersion);
  ESCROW_ASSIGN_OR_RETURN(
      std::optional<std::uint32_t> target,
      vault::ReadOptionalMetaVersion(*v.store, vault::MetaKey::kRotationTarget));
  ESCROW_ASSIGN_OR_RETURN(auto counts, v.store->CountByMasterKey());
  ESCROW_ASSIGN_OR_RETURN(std::optional<storage::AuditRow> last, v.store->LastAudit());
  ESCROW_ASSIGN_OR_RETURN(std::optional<std::string> backup, v.store->GetMeta("last_backup"));
  std::map<std::uint32_t, std::int64_t> per_version(counts.begin(), counts.end());

  std::ostringstream out;
  out << "token:          " << token.label << " (serial " << token.serial << ", "
      << token.manufacturer << " " << token.model << ")\n"
      << "keys:\n";
  for (const hsm::KeyInfo& key : keys) {
    std::string use;
    if ((key.role == hsm::KeyRole::kMaster && active.ok() && key.version == *active) ||
        (key.role == hsm::KeyRole::kAudit && key.version == v.audit_key_version)) {
      use = "  [active]";
    } else if (key.role == hsm::KeyRole::kMaster) {
      use = "  [" + std::to_string(per_version[key.version]) + " records]";
    }
    out << "  " << key.label << "  check value " << key.check_value << "  "
        << (key.extractable ? "backup-capable (wrap with trusted only)" : "never extractable")
        << use << "\n";
  }
  out << "active master key version: "
      << (active.ok() ? std::to_string(*active) : active.status().message()) << "\n"
      << "rotation:       "
      << (target ? "in progress to v" + std::to_string(*target) +
                       " (run `vaultctl master-key rotate` to finish it)"
                 : std::string("none"))
      << "\n"
      << "records per master key version:";
  if (per_version.empty()) out << " none";
  for (const auto& [version, n] : per_version) {
    if (n > 0) out << " v" << version << "=" << n;
  }
  out << "\n"
      << "audit head:     "
      << (last ? std::to_string(last->seq) + ":" + HexEncode(last->hash) : std::string("0:empty"))
      << "\n"
      << "audit key version: " << v.audit_key_version << "\n"
      << "schema version: " << v.store->schema_version() << "\n"
      << "last db backup: " << DescribeBackup(backup) << "\n";
  return out.str();
}

}  // namespace

void AddStatusCommand(CLI::App& app, CtlRunner& run) {
  auto config = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand("status", "Show the HSM keys, database and audit head");
  cmd->add_option("--config", *config, "vault.conf")->required();
  cmd->callback([config, &run] {
    run = [config]() -> int {
      CtlPrepareSecrets();
      Result<vault::VaultConfig> loaded = LoadCtlConfig(*config);
      if (!loaded.ok()) return CtlFail(loaded.status(), "status");
      return CtlPrint(DescribeStatus(*loaded), "status");
    };
  });
}

}  // namespace escrow::tools
