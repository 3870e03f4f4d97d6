#include "vault/ops/db_backup.h"

#include <filesystem>
#include <memory>
#include <optional>
#include <system_error>

#include <boost/json.hpp>

#include "base/bytes.h"
#include "base/clock.h"
#include "vault/meta.h"
#include "vault/ops/ceremony_record.h"

namespace escrow::ops {
namespace {

namespace fs = std::filesystem;

// The newest audit record of the database file at `path`, read through the same store code
// (the copy is a complete vault database).
Result<vault::AuditHead> HeadOf(const fs::path& path) {
  ESCROW_ASSIGN_OR_RETURN(std::unique_ptr<storage::Store> copy, OpenStore(path.string(), false, 1));
  ESCROW_RETURN_IF_ERROR(copy->IntegrityCheck());
  ESCROW_ASSIGN_OR_RETURN(std::optional<storage::AuditRow> last, storage::ReadValue(*copy, [](storage::ReadTxn& rtx) { return rtx.audit().Last(); }));
  if (!last) return vault::AuditHead{0, std::string(64, '0')};
  return vault::AuditHead{last->seq, HexEncode(last->hash)};
}

}  // namespace

Result<DbBackupReport> BackupDatabase(const DbBackupOptions& options, const Vault& v) {
  const fs::path path = fs::absolute(options.out).lexically_normal();
  std::error_code ec;
  if (fs::exists(fs::symlink_status(path, ec))) {
    return Status::AlreadyExists(path.string() + " exists; db backup writes a new file");
  }
  // SQLite's online backup API: a consistent snapshot while vaultd keeps writing.
  ESCROW_RETURN_IF_ERROR(v.store.BackupTo(path.string()));
  Result<vault::AuditHead> head = HeadOf(path);
  if (!head.ok()) return head.status().WithContext("reading the copy " + path.string());
  const std::string head_text = std::to_string(head->seq) + ":" + head->hash;
  const std::string time = FormatRfc3339(Clock::System().Now());
  boost::json::object record{{"time", time}, {"path", path.string()}, {"audit_head", head_text}};
  const std::string meta = boost::json::serialize(record);
  ESCROW_RETURN_IF_ERROR(
      RecordCeremony(v.audit, "ceremony.db_backup", meta, [&meta](storage::WriteTxn& txn) {
        return vault::WriteMetaText(txn, vault::MetaKey::kLastBackup, meta);
      }));
  DbBackupReport report;
  report.path = path.string();
  report.head = *head;
  report.text =
      "database backup: " + path.string() + "\naudit head in the backup: " + head_text + "\n";
  return report;
}

}  // namespace escrow::ops
