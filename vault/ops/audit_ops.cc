#include "vault/ops/audit_ops.h"

#include <string>
#include <vector>

#include <boost/json.hpp>

namespace escrow::ops {
namespace {

constexpr std::size_t kHashHex = 64;
constexpr std::size_t kPage = 1000;

}  // namespace

Result<vault::AuditHead> ParseAuditHead(std::string_view text) {
  const std::size_t colon = text.find(':');
  const Status bad = Status::InvalidArgument("--expect-head must be SEQ:HASH (64 lowercase hex)");
  if (colon == std::string_view::npos || colon == 0 || colon > 19) return bad;
  const std::string_view seq_text = text.substr(0, colon);
  const std::string_view hash = text.substr(colon + 1);
  if (seq_text.find_first_not_of("0123456789") != std::string_view::npos) return bad;
  if (hash.size() != kHashHex ||
      hash.find_first_not_of("0123456789abcdef") != std::string_view::npos) {
    return bad;
  }
  return vault::AuditHead{std::stoull(std::string(seq_text)), std::string(hash)};
}

Result<vault::AuditVerifyReport> VerifyAudit(const AuditVerifyOptions& options, const Vault& v) {
  return v.audit.Verify(options.expected);
}

Result<AuditExportReport> ExportAudit(const AuditExportOptions& options, storage::Store& store,
                                      std::ostream& out) {
  std::optional<std::int64_t> since_ms;
  if (options.since) since_ms = ToUnixMillis(*options.since);
  AuditExportReport report;
  std::uint64_t after = 0;
  for (;;) {
    ESCROW_ASSIGN_OR_RETURN(std::vector<storage::AuditRow> page,
                            storage::ReadValue(store, [&](storage::ReadTxn& rtx) { return rtx.audit().List(after, kPage, std::nullopt); }));
    for (const storage::AuditRow& row : page) {
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
      out << boost::json::serialize(line) << "\n";
      ++report.records;
    }
    if (page.size() < kPage) break;
  }
  out << std::flush;
  if (!out.good()) return Status::Unavailable("cannot write the export");
  return report;
}

}  // namespace escrow::ops
