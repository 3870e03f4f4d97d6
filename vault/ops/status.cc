#include "vault/ops/status.h"

#include <sstream>

#include <boost/json.hpp>

#include "base/bytes.h"
#include "vault/meta.h"

namespace escrow::ops {
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

}  // namespace

Result<StatusReport> DescribeStatus(const Vault& v) {
  StatusReport r;
  r.token = v.keys.token();
  ESCROW_ASSIGN_OR_RETURN(r.keys, v.keys.ListKeys());
  r.active_master_key_version =
      vault::ReadMetaVersion(v.store, vault::MetaKey::kActiveMasterKeyVersion);
  ESCROW_ASSIGN_OR_RETURN(r.rotation_target,
                          vault::ReadOptionalMetaVersion(v.store, vault::MetaKey::kRotationTarget));
  ESCROW_ASSIGN_OR_RETURN(auto counts, storage::ReadValue(v.store, [&](storage::ReadTxn& rtx) { return rtx.versions().CountByMasterKey(); }));
  ESCROW_ASSIGN_OR_RETURN(std::optional<storage::AuditRow> last, storage::ReadValue(v.store, [&](storage::ReadTxn& rtx) { return rtx.audit().Last(); }));
  ESCROW_ASSIGN_OR_RETURN(std::optional<std::string> backup,
                          vault::ReadMetaText(v.store, vault::MetaKey::kLastBackup));
  r.records_per_version = {counts.begin(), counts.end()};
  if (last) {
    r.audit_empty = false;
    r.head = {last->seq, HexEncode(last->hash)};
  }
  r.audit_key_version = v.audit.audit_key_version();
  r.schema_version = v.store.schema_version();
  r.last_backup = DescribeBackup(backup);
  return r;
}

std::string RenderStatus(const StatusReport& r) {
  const Result<std::uint32_t>& active = r.active_master_key_version;
  // A master key listed below with no records counts as a version with 0 (so the line of
  // counts then says nothing rather than "none").
  std::map<std::uint32_t, std::int64_t> per_version = r.records_per_version;
  std::ostringstream out;
  out << "token:          " << r.token.label << " (serial " << r.token.serial << ", "
      << r.token.manufacturer << " " << r.token.model << ")\n"
      << "keys:\n";
  for (const hsm::KeyInfo& key : r.keys) {
    std::string use;
    const bool active_master =
        key.role == hsm::KeyRole::kMaster && active.ok() && key.version == *active;
    const bool active_audit =
        key.role == hsm::KeyRole::kAudit && key.version == r.audit_key_version;
    if (active_master || active_audit) {
      use = "  [active]";
    } else if (key.role == hsm::KeyRole::kMaster) {
      use = "  [" + std::to_string(per_version[key.version]) + " records]";
    }
    out << "  " << key.label << "  check value " << hsm::CheckValueText(key) << "  "
        << (key.extractable ? "backup-capable (wrap with trusted only)" : "never extractable")
        << use << "\n";
  }
  out << "active master key version: "
      << (active.ok() ? std::to_string(*active) : active.status().message()) << "\n"
      << "rotation:       "
      << (r.rotation_target ? "in progress to v" + std::to_string(*r.rotation_target) +
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
      << (r.audit_empty ? std::string("0:empty") : std::to_string(r.head.seq) + ":" + r.head.hash)
      << "\n"
      << "audit key version: " << r.audit_key_version << "\n"
      << "schema version: " << r.schema_version << "\n"
      << "last db backup: " << r.last_backup << "\n";
  return out.str();
}

}  // namespace escrow::ops
