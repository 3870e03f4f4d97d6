#include "vault/ops/audit_ops.h"

#include <string>
#include <vector>

#include <boost/json.hpp>

#include "vault/audit_checkpoint.h"
#include "vault/ops/ceremony_record.h"

namespace escrow::ops {
namespace {

constexpr std::size_t kPage = 1000;

}  // namespace

Result<vault::AuditHead> ParseAuditHead(std::string_view text) {
  Result<vault::AuditHead> head = vault::ParseAuditHead(text);
  if (!head.ok()) {
    return Status::InvalidArgument("--expect-head must be SEQ:HASH (64 lowercase hex)");
  }
  return head;
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

Result<AcceptHeadReport> AcceptHead(const Vault& v) {
  AcceptHeadReport report;
  // The newest checkpoint of any node: the head the vault last vouched for.
  Result<std::vector<hsm::NodeCheckpointValue>> kept = v.keys.ReadEveryCheckpoint();
  if (!kept.ok()) return kept.status().WithContext("reading the token's checkpoints");
  for (const hsm::NodeCheckpointValue& node : *kept) {
    if (!node.value) continue;  // damaged: replaced below like the rest
    ESCROW_ASSIGN_OR_RETURN(const vault::AuditHead head, vault::DecodeCheckpoint(*node.value));
    if (!report.previous || report.previous->seq < head.seq) report.previous = head;
  }
  ESCROW_ASSIGN_OR_RETURN(const vault::AuditVerifyReport verified, v.audit.Verify());
  if (!verified.ok) {
    return Status::DataLoss("the audit chain does not verify at record " +
                            (verified.first_bad ? std::to_string(*verified.first_bad)
                                                : std::string("?")) +
                            ": " + verified.problem + "; not accepted");
  }
  report.accepted = verified.head;
  boost::json::object detail;
  detail["previous_checkpoint"] =
      report.previous ? std::to_string(report.previous->seq) + ":" + report.previous->hash
                      : std::string("none");
  detail["accepted_head"] = std::to_string(report.accepted.seq) + ":" + report.accepted.hash;
  ESCROW_RETURN_IF_ERROR(
      RecordCeremony(v.audit, "ceremony.accept_head", boost::json::serialize(detail)));
  report.kept = v.audit.head();
  ESCROW_RETURN_IF_ERROR(vault::KeepCheckpoint(v.keys, report.kept)
                             .WithContext("keeping the new checkpoint on the token"));
  // The accepted head holds for the whole vault: the other nodes' checkpoints, which may name
  // the database that was replaced, go (each node keeps its own again as it releases keys).
  ESCROW_RETURN_IF_ERROR(v.keys.ForgetOtherCheckpoints().WithContext(
      "removing the other nodes' checkpoints from the token"));
  return report;
}

}  // namespace escrow::ops
