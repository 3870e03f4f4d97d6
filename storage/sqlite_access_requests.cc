#include "storage/sqlite_access_requests.h"

#include "storage/database.h"
#include "storage/row_codec.h"
#include "storage/statement.h"

namespace escrow::storage {
namespace {

#define ACCESS_REQUEST_COLUMNS                                                              \
  "seq, id, device_id, requester, reason, version, state, created_ms, expires_ms, approver, " \
  "decided_ms, note, used_ms, approval_mac, approval_key_version"

constexpr Query kGet{"get access request",
                     "SELECT " ACCESS_REQUEST_COLUMNS " FROM access_requests WHERE id = ?1"};
// ?1 state filter ('' for none), ?2 requester (kListOf only), ?3 now_ms, ?4 after, ?5 limit.
// A pending or approved row past its expiry is listed as expired (EffectiveState). kListOf
// walks access_requests_by_requester in seq order, kListAll the table's own key (seq).
#define ACCESS_REQUEST_STATE_FILTER                                               \
  " AND (?1 = '' OR "                                                             \
  "(?1 = 'expired' AND (state = 'expired' OR "                                    \
  "  ((state = 'pending' OR state = 'approved') AND expires_ms <= ?3))) OR "      \
  "((?1 = 'pending' OR ?1 = 'approved') AND state = ?1 AND expires_ms > ?3) OR "  \
  "((?1 = 'denied' OR ?1 = 'used') AND state = ?1)) ORDER BY seq LIMIT ?5"
constexpr Query kListAll{"list access requests",
                         "SELECT " ACCESS_REQUEST_COLUMNS " FROM access_requests WHERE seq > ?4 "
                         "AND ?2 = ''" ACCESS_REQUEST_STATE_FILTER};
constexpr Query kListOf{"list a requester's access requests",
                        "SELECT " ACCESS_REQUEST_COLUMNS " FROM access_requests WHERE "
                        "requester = ?2 AND seq > ?4" ACCESS_REQUEST_STATE_FILTER};
#undef ACCESS_REQUEST_STATE_FILTER
constexpr Query kInsert{"insert access request",
                        "INSERT INTO access_requests (id, device_id, requester, reason, version, "
                        "state, created_ms, expires_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
                        "RETURNING seq"};
constexpr Query kDecide{"decide access request",
                        "UPDATE access_requests SET state = ?2, approver = ?3, note = ?4, "
                        "decided_ms = ?5, approval_mac = ?6, approval_key_version = ?7 "
                        "WHERE id = ?1 AND state = 'pending' AND expires_ms > ?5"};
constexpr Query kUse{"use access request",
                     "UPDATE access_requests SET state = 'used', used_ms = ?2 "
                     "WHERE id = ?1 AND state = 'approved' AND expires_ms > ?2 AND "
                     "device_id = ?3 AND requester = ?4 AND version = ?5 AND approval_mac = ?6"};

#undef ACCESS_REQUEST_COLUMNS

Result<AccessRequestRow> ReadRow(const Statement& stmt) {
  AccessRequestRow row;
  ESCROW_ASSIGN_OR_RETURN(row.seq, stmt.ColumnUint64(0));
  row.id = stmt.ColumnText(1);
  row.device_id = stmt.ColumnText(2);
  row.requester = stmt.ColumnText(3);
  row.reason = stmt.ColumnText(4);
  ESCROW_ASSIGN_OR_RETURN(row.version, stmt.ColumnUint32(5));
  const std::optional<AccessRequestState> state = ParseAccessRequestState(stmt.ColumnText(6));
  if (!state) return Status::DataLoss("an access request row is not ours");
  row.state = *state;
  row.created_ms = stmt.ColumnInt64(7);
  row.expires_ms = stmt.ColumnInt64(8);
  if (!stmt.ColumnIsNull(9)) row.approver = stmt.ColumnText(9);
  if (!stmt.ColumnIsNull(10)) row.decided_ms = stmt.ColumnInt64(10);
  if (!stmt.ColumnIsNull(11)) row.note = stmt.ColumnText(11);
  if (!stmt.ColumnIsNull(12)) row.used_ms = stmt.ColumnInt64(12);
  if (!stmt.ColumnIsNull(13)) row.approval_mac = stmt.ColumnBlob(13);
  if (!stmt.ColumnIsNull(14)) {
    ESCROW_ASSIGN_OR_RETURN(row.approval_key_version, stmt.ColumnUint32(14));
  }
  return row;
}

}  // namespace

AccessRequestState EffectiveState(const AccessRequestRow& row, std::int64_t now_ms) {
  const bool open =
      row.state == AccessRequestState::kPending || row.state == AccessRequestState::kApproved;
  return open && row.expires_ms <= now_ms ? AccessRequestState::kExpired : row.state;
}

Result<std::optional<AccessRequestRow>> SqliteAccessRequests::Get(std::string_view id) {
  return ctx_.Run([&](Database& db) -> Result<std::optional<AccessRequestRow>> {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(kGet));
    ESCROW_RETURN_IF_ERROR(stmt->BindText(1, id));
    return ReadOne<AccessRequestRow>(*stmt, ReadRow);
  });
}

Result<std::vector<AccessRequestRow>> SqliteAccessRequests::List(
    std::optional<AccessRequestState> state, std::optional<std::string_view> requester,
    std::int64_t now_ms, std::uint64_t after, std::size_t limit) {
  return ctx_.Run([&](Database& db) -> Result<std::vector<AccessRequestRow>> {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(requester ? kListOf : kListAll));
    ESCROW_RETURN_IF_ERROR(
        stmt->BindText(1, state ? AccessRequestStateName(*state) : std::string_view()));
    ESCROW_RETURN_IF_ERROR(stmt->BindText(2, requester.value_or(std::string_view())));
    ESCROW_RETURN_IF_ERROR(stmt->BindInt64(3, now_ms));
    ESCROW_RETURN_IF_ERROR(stmt->BindUint64(4, after));
    ESCROW_RETURN_IF_ERROR(stmt->BindCount(5, limit));
    return ReadAll<AccessRequestRow>(*stmt, ReadRow);
  });
}

Result<std::uint64_t> SqliteAccessRequests::Insert(const AccessRequestRow& row) {
  if (row.state != AccessRequestState::kPending) {
    return Status::InvalidArgument("insert access request: only a pending request");
  }
  return ctx_.Run([&](Database& db) -> Result<std::uint64_t> {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(kInsert));
    ESCROW_RETURN_IF_ERROR(stmt->BindText(1, row.id));
    ESCROW_RETURN_IF_ERROR(stmt->BindText(2, row.device_id));
    ESCROW_RETURN_IF_ERROR(stmt->BindText(3, row.requester));
    ESCROW_RETURN_IF_ERROR(stmt->BindText(4, row.reason));
    ESCROW_RETURN_IF_ERROR(stmt->BindUint32(5, row.version));
    ESCROW_RETURN_IF_ERROR(stmt->BindText(6, AccessRequestStateName(row.state)));
    ESCROW_RETURN_IF_ERROR(stmt->BindInt64(7, row.created_ms));
    ESCROW_RETURN_IF_ERROR(stmt->BindInt64(8, row.expires_ms));
    ESCROW_ASSIGN_OR_RETURN(const bool has_row, stmt->Step());
    if (!has_row) return Status::Internal("insert access request: no seq returned");
    ESCROW_ASSIGN_OR_RETURN(const std::uint64_t seq, stmt->ColumnUint64(0));
    ESCROW_ASSIGN_OR_RETURN(const bool more, stmt->Step());  // runs the statement to its end
    (void)more;
    return seq;
  });
}

Result<bool> SqliteAccessRequests::Decide(std::string_view id, const AccessDecision& decision) {
  const bool approve = decision.to == AccessRequestState::kApproved;
  if ((!approve && decision.to != AccessRequestState::kDenied) ||
      approve == decision.approval_mac.empty()) {
    return Status::InvalidArgument(
        "decide access request: approved with a MAC, or denied without one");
  }
  return ctx_.Run([&](Database& db) -> Result<bool> {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(kDecide));
    ESCROW_RETURN_IF_ERROR(stmt->BindText(1, id));
    ESCROW_RETURN_IF_ERROR(stmt->BindText(2, AccessRequestStateName(decision.to)));
    ESCROW_RETURN_IF_ERROR(stmt->BindText(3, decision.approver));
    ESCROW_RETURN_IF_ERROR(stmt->BindText(4, decision.note));
    ESCROW_RETURN_IF_ERROR(stmt->BindInt64(5, decision.decided_ms));
    if (approve) {
      ESCROW_RETURN_IF_ERROR(stmt->BindBlob(6, decision.approval_mac));
      ESCROW_RETURN_IF_ERROR(stmt->BindUint32(7, decision.approval_key_version));
    } else {
      ESCROW_RETURN_IF_ERROR(stmt->BindNull(6));
      ESCROW_RETURN_IF_ERROR(stmt->BindNull(7));
    }
    ESCROW_RETURN_IF_ERROR(stmt->Run());
    return db.changes() == 1;
  });
}

Result<bool> SqliteAccessRequests::Use(const AccessRequestRow& approved, std::int64_t now_ms) {
  if (approved.approval_mac.empty()) return false;  // never approved with a MAC: not usable
  return ctx_.Run([&](Database& db) -> Result<bool> {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(kUse));
    ESCROW_RETURN_IF_ERROR(stmt->BindText(1, approved.id));
    ESCROW_RETURN_IF_ERROR(stmt->BindInt64(2, now_ms));
    ESCROW_RETURN_IF_ERROR(stmt->BindText(3, approved.device_id));
    ESCROW_RETURN_IF_ERROR(stmt->BindText(4, approved.requester));
    ESCROW_RETURN_IF_ERROR(stmt->BindUint32(5, approved.version));
    ESCROW_RETURN_IF_ERROR(stmt->BindBlob(6, approved.approval_mac));
    ESCROW_RETURN_IF_ERROR(stmt->Run());
    return db.changes() == 1;
  });
}

}  // namespace escrow::storage
