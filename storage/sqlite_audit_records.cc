#include "storage/sqlite_audit_records.h"

#include <algorithm>
#include <limits>
#include <string>

#include "storage/database.h"
#include "storage/queries.h"
#include "storage/row_codec.h"

namespace escrow::storage {

Result<std::vector<AuditRow>> SqliteAuditRecords::List(std::uint64_t after, std::size_t limit,
                                                       std::optional<std::string_view> device_id) {
  return ctx_.Run([&](Database& db) -> Result<std::vector<AuditRow>> {
    const Query& query = device_id ? queries::kListAuditByDevice : queries::kListAudit;
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(query));
    // Past INT64_MAX no record can follow: every seq is a signed 64-bit integer.
    if (after > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      return std::vector<AuditRow>();
    }
    ESCROW_RETURN_IF_ERROR(stmt->BindUint64(1, after));
    ESCROW_RETURN_IF_ERROR(stmt->BindCount(2, limit));
    if (device_id) ESCROW_RETURN_IF_ERROR(stmt->BindText(3, *device_id));
    return ReadAll<AuditRow>(*stmt, ReadAudit);
  });
}

Result<std::optional<AuditRow>> SqliteAuditRecords::Last() {
  return ctx_.Run([&](Database& db) -> Result<std::optional<AuditRow>> {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(queries::kLastAudit));
    return ReadOne<AuditRow>(*stmt, ReadAudit);
  });
}

Result<std::optional<AuditRow>> SqliteAuditRecords::Get(std::uint64_t seq) {
  return ctx_.Run([&](Database& db) -> Result<std::optional<AuditRow>> {
    if (seq > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      return std::optional<AuditRow>();
    }
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(queries::kGetAudit));
    ESCROW_RETURN_IF_ERROR(stmt->BindUint64(1, seq));
    return ReadOne<AuditRow>(*stmt, ReadAudit);
  });
}

Result<std::optional<std::uint64_t>> SqliteAuditRecords::NewestStateChange(
    std::string_view device_id) {
  return ctx_.Run([&](Database& db) -> Result<std::optional<std::uint64_t>> {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(queries::kNewestStateChange));
    ESCROW_RETURN_IF_ERROR(stmt->BindText(1, device_id));
    ESCROW_ASSIGN_OR_RETURN(bool has_row, stmt->Step());
    if (!has_row || stmt->ColumnIsNull(0)) return std::optional<std::uint64_t>();
    ESCROW_ASSIGN_OR_RETURN(std::uint64_t seq, stmt->ColumnUint64(0));
    return std::optional<std::uint64_t>(seq);
  });
}

Result<std::vector<AuditRow>> SqliteAuditRecords::ListReleases(
    std::string_view device_id, std::optional<std::uint64_t> before, std::size_t limit) {
  return ctx_.Run([&](Database& db) -> Result<std::vector<AuditRow>> {
    // Every seq is a signed 64-bit integer: a bound past INT64_MAX (or none) takes them all.
    constexpr auto kMax = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    const std::uint64_t bound = before ? std::min(*before, kMax) : kMax;
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(queries::kListReleases));
    ESCROW_RETURN_IF_ERROR(stmt->BindText(1, device_id));
    ESCROW_RETURN_IF_ERROR(stmt->BindUint64(2, bound));
    ESCROW_RETURN_IF_ERROR(stmt->BindCount(3, limit));
    return ReadAll<AuditRow>(*stmt, ReadAudit);
  });
}

Status SqliteAuditRecords::Append(const AuditRow& row) {
  return ctx_.Run([&](Database& db) -> Status {
    // The chain is gap-free: the next record is the head plus one (max(seq) reads one b-tree
    // edge). A lower seq exists already; a higher one would leave a hole.
    std::uint64_t head = 0;
    {
      ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(queries::kLastAuditSeq));
      ESCROW_ASSIGN_OR_RETURN(bool has_row, stmt->Step());
      if (!has_row) return Status::Internal("read audit head: no row");
      ESCROW_ASSIGN_OR_RETURN(head, stmt->ColumnUint64(0));
    }
    if (row.seq <= head) {
      return Status::AlreadyExists("audit record " + std::to_string(row.seq) + " exists");
    }
    if (row.seq != head + 1) {
      return Status::InvalidArgument("audit record " + std::to_string(row.seq) +
                                     " would leave a gap after " + std::to_string(head));
    }
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(queries::kAppendAudit));
    ESCROW_RETURN_IF_ERROR(BindAudit(*stmt, row));
    return stmt->Run();
  });
}

}  // namespace escrow::storage
