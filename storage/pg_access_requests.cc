#include <string>

#include "storage/pg_row_codec.h"
#include "storage/pg_stores.h"

namespace escrow::storage {
namespace {

#define PG_ACCESS_REQUEST_COLUMNS                                                              \
  "seq, id, device_id, requester, reason, version, state, created_ms, expires_ms, approver, " \
  "decided_ms, note, used_ms, approval_mac, approval_key_version"

constexpr Query kGet{"get access request",
                     "SELECT " PG_ACCESS_REQUEST_COLUMNS " FROM access_requests WHERE id = $1"};
// $1 state filter ('' for none), $2 requester (kListOf only), $3 now_ms, $4 after, $5 limit.
// A pending or approved row past its expiry is listed as expired (EffectiveState).
#define PG_ACCESS_REQUEST_STATE_FILTER                                                         \
  " AND ($1::text = '' OR "                                                                    \
  "($1::text = 'expired' AND (state = 'expired' OR "                                           \
  "  (state IN ('pending', 'approved') AND expires_ms <= $3::bigint))) OR "                    \
  "($1::text IN ('pending', 'approved') AND state = $1::text AND expires_ms > $3::bigint) OR " \
  "($1::text IN ('denied', 'used') AND state = $1::text)) ORDER BY seq LIMIT $5"
constexpr Query kListAll{"list access requests",
                         "SELECT " PG_ACCESS_REQUEST_COLUMNS
                         " FROM access_requests WHERE seq > $4 AND $2::text = ''"
                         PG_ACCESS_REQUEST_STATE_FILTER};
constexpr Query kListOf{"list a requester's access requests",
                        "SELECT " PG_ACCESS_REQUEST_COLUMNS
                        " FROM access_requests WHERE requester = $2::text AND seq > $4"
                        PG_ACCESS_REQUEST_STATE_FILTER};
#undef PG_ACCESS_REQUEST_STATE_FILTER
constexpr Query kInsert{"insert access request",
                        "INSERT INTO access_requests (id, device_id, requester, reason, version, "
                        "state, created_ms, expires_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
                        "RETURNING seq"};
constexpr Query kDecide{"decide access request",
                        "UPDATE access_requests SET state = $2, approver = $3, note = $4, "
                        "decided_ms = $5, approval_mac = $6, approval_key_version = $7 "
                        "WHERE id = $1 AND state = 'pending' AND expires_ms > $5"};
constexpr Query kUse{"use access request",
                     "UPDATE access_requests SET state = 'used', used_ms = $2 "
                     "WHERE id = $1 AND state = 'approved' AND expires_ms > $2 AND "
                     "device_id = $3 AND requester = $4 AND version = $5 AND approval_mac = $6"};

#undef PG_ACCESS_REQUEST_COLUMNS

Result<AccessRequestRow> ReadRow(const PgResult& result, int r) {
  AccessRequestRow row;
  ESCROW_ASSIGN_OR_RETURN(row.seq, result.Uint64(r, 0));
  row.id = result.Text(r, 1);
  row.device_id = result.Text(r, 2);
  row.requester = result.Text(r, 3);
  row.reason = result.Text(r, 4);
  ESCROW_ASSIGN_OR_RETURN(row.version, result.Uint32(r, 5));
  const std::optional<AccessRequestState> state = ParseAccessRequestState(result.Text(r, 6));
  if (!state) return Status::DataLoss("an access request row is not ours");
  row.state = *state;
  ESCROW_ASSIGN_OR_RETURN(row.created_ms, result.Int64(r, 7));
  ESCROW_ASSIGN_OR_RETURN(row.expires_ms, result.Int64(r, 8));
  if (!result.IsNull(r, 9)) row.approver = result.Text(r, 9);
  if (!result.IsNull(r, 10)) {
    ESCROW_ASSIGN_OR_RETURN(row.decided_ms, result.Int64(r, 10));
  }
  if (!result.IsNull(r, 11)) row.note = result.Text(r, 11);
  if (!result.IsNull(r, 12)) {
    ESCROW_ASSIGN_OR_RETURN(row.used_ms, result.Int64(r, 12));
  }
  ESCROW_ASSIGN_OR_RETURN(row.approval_mac, result.Blob(r, 13));
  if (!result.IsNull(r, 14)) {
    ESCROW_ASSIGN_OR_RETURN(row.approval_key_version, result.Uint32(r, 14));
  }
  return row;
}

}  // namespace

Result<std::optional<AccessRequestRow>> PgAccessRequests::Get(std::string_view id) {
  PgParams params;
  params.Text(id);
  ESCROW_ASSIGN_OR_RETURN(PgResult result, ctx_.Read(kGet, params));
  return ReadPgOne<AccessRequestRow>(result, ReadRow);
}

Result<std::vector<AccessRequestRow>> PgAccessRequests::List(
    std::optional<AccessRequestState> state, std::optional<std::string_view> requester,
    std::int64_t now_ms, std::uint64_t after, std::size_t limit) {
  PgParams params;
  params.Text(state ? AccessRequestStateName(*state) : std::string_view());
  params.Text(requester.value_or(std::string_view())).Int64(now_ms).Uint64Clamped(after);
  params.Count(limit);
  ESCROW_ASSIGN_OR_RETURN(PgResult result, ctx_.Read(requester ? kListOf : kListAll, params));
  return ReadPgAll<AccessRequestRow>(result, ReadRow);
}

Result<std::uint64_t> PgAccessRequests::Insert(const AccessRequestRow& row) {
  if (row.state != AccessRequestState::kPending) {
    return Status::InvalidArgument("insert access request: only a pending request");
  }
  PgParams params;
  params.Text(row.id).Text(row.device_id).Text(row.requester).Text(row.reason);
  params.Uint32(row.version).Text(AccessRequestStateName(row.state));
  params.Int64(row.created_ms).Int64(row.expires_ms);
  ESCROW_ASSIGN_OR_RETURN(PgResult result, ctx_.Change(kInsert, params));
  if (result.rows() != 1) return Status::Internal("insert access request: no seq returned");
  return result.Uint64(0, 0);
}

Result<bool> PgAccessRequests::Decide(std::string_view id, const AccessDecision& decision) {
  const bool approve = decision.to == AccessRequestState::kApproved;
  if ((!approve && decision.to != AccessRequestState::kDenied) ||
      approve == decision.approval_mac.empty()) {
    return Status::InvalidArgument(
        "decide access request: approved with a MAC, or denied without one");
  }
  PgParams params;
  params.Text(id).Text(AccessRequestStateName(decision.to)).Text(decision.approver);
  params.Text(decision.note).Int64(decision.decided_ms);
  if (approve) {
    params.Blob(decision.approval_mac).Uint32(decision.approval_key_version);
  } else {
    params.Null().Null();
  }
  ESCROW_ASSIGN_OR_RETURN(PgResult result, ctx_.Change(kDecide, params));
  return result.affected() == 1;
}

Result<bool> PgAccessRequests::Use(const AccessRequestRow& approved, std::int64_t now_ms) {
  if (approved.approval_mac.empty()) return false;  // never approved with a MAC: not usable
  PgParams params;
  params.Text(approved.id).Int64(now_ms).Text(approved.device_id).Text(approved.requester);
  params.Uint32(approved.version).Blob(approved.approval_mac);
  ESCROW_ASSIGN_OR_RETURN(PgResult result, ctx_.Change(kUse, params));
  return result.affected() == 1;
}

}  // namespace escrow::storage
