#include <algorithm>
#include <limits>
#include <string>

#include "storage/pg_row_codec.h"
#include "storage/pg_stores.h"

namespace escrow::storage {
namespace {

#define PG_AUDIT_COLUMNS                                                               \
  "seq, time_ms, actor, role, action, device_id, outcome, reason, detail, hash, mac, " \
  "audit_key_version"

constexpr Query kAppend{"append audit record",
                        "INSERT INTO audit (" PG_AUDIT_COLUMNS
                        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"};
// The head as audit_head holds it: inside a write transaction this row is locked (the first
// statement of every write), so no other node can move it before the commit.
constexpr Query kHeadSeq{"read audit head", "SELECT seq FROM audit_head WHERE id = 1"};
constexpr Query kList{"list audit records", "SELECT " PG_AUDIT_COLUMNS
                                            " FROM audit WHERE seq > $1 ORDER BY seq LIMIT $2"};
constexpr Query kListByDevice{"list audit records of a device",
                              "SELECT " PG_AUDIT_COLUMNS
                              " FROM audit WHERE device_id = $3 AND seq > $1 ORDER BY seq "
                              "LIMIT $2"};
constexpr Query kLast{"read last audit record",
                      "SELECT " PG_AUDIT_COLUMNS " FROM audit ORDER BY seq DESC LIMIT 1"};
constexpr Query kGet{"get audit record",
                     "SELECT " PG_AUDIT_COLUMNS " FROM audit WHERE seq = $1"};
// Through the partial index of state changes (migrations 6 and 11; its WHERE implied here).
constexpr Query kNewestStateChange{
    "read the newest state change of a device",
    "SELECT max(seq) FROM audit WHERE device_id = $1 AND outcome = 'ok' AND action IN ("
    "'device.enrol', 'device.change_owner', 'key.store', 'key.retrieve', "
    "'key.retrieve_older', 'key.rotate', 'key.rotation_command')"};
// Through the partial index of releases (migration 13).
constexpr Query kListReleases{
    "list releases of a device",
    "SELECT " PG_AUDIT_COLUMNS
    " FROM audit WHERE device_id = $1 AND seq < $2 AND outcome = 'ok' AND action IN ("
    "'key.retrieve', 'key.retrieve_older', 'key.rotation_command') ORDER BY seq DESC LIMIT $3"};

#undef PG_AUDIT_COLUMNS

constexpr auto kMaxSeq = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());

}  // namespace

Result<std::vector<AuditRow>> PgAuditRecords::List(std::uint64_t after, std::size_t limit,
                                                   std::optional<std::string_view> device_id) {
  // Past INT64_MAX no record can follow: every seq is a bigint.
  if (after > kMaxSeq) return std::vector<AuditRow>();
  PgParams params;
  params.Uint64Clamped(after).Count(limit);
  if (device_id) params.Text(*device_id);
  ESCROW_ASSIGN_OR_RETURN(PgResult result, ctx_.Read(device_id ? kListByDevice : kList, params));
  return ReadPgAll<AuditRow>(result, ReadPgAudit);
}

Result<std::optional<AuditRow>> PgAuditRecords::Last() {
  ESCROW_ASSIGN_OR_RETURN(PgResult result, ctx_.Read(kLast));
  return ReadPgOne<AuditRow>(result, ReadPgAudit);
}

Result<std::optional<AuditRow>> PgAuditRecords::Get(std::uint64_t seq) {
  if (seq > kMaxSeq) return std::optional<AuditRow>();
  PgParams params;
  params.Uint64Clamped(seq);
  ESCROW_ASSIGN_OR_RETURN(PgResult result, ctx_.Read(kGet, params));
  return ReadPgOne<AuditRow>(result, ReadPgAudit);
}

Result<std::optional<std::uint64_t>> PgAuditRecords::NewestStateChange(
    std::string_view device_id) {
  PgParams params;
  params.Text(device_id);
  ESCROW_ASSIGN_OR_RETURN(PgResult result, ctx_.Read(kNewestStateChange, params));
  if (result.rows() == 0 || result.IsNull(0, 0)) return std::optional<std::uint64_t>();
  ESCROW_ASSIGN_OR_RETURN(std::uint64_t seq, result.Uint64(0, 0));
  return std::optional<std::uint64_t>(seq);
}

Result<std::vector<AuditRow>> PgAuditRecords::ListReleases(std::string_view device_id,
                                                           std::optional<std::uint64_t> before,
                                                           std::size_t limit) {
  PgParams params;
  params.Text(device_id).Uint64Clamped(before ? std::min(*before, kMaxSeq) : kMaxSeq);
  params.Count(limit);
  ESCROW_ASSIGN_OR_RETURN(PgResult result, ctx_.Read(kListReleases, params));
  return ReadPgAll<AuditRow>(result, ReadPgAudit);
}

Status PgAuditRecords::Append(const AuditRow& row) {
  // The chain is gap-free: the next record is the head plus one. The database checks it too
  // (audit_advance_head); checking here first gives txn.h's codes without a failed statement.
  ESCROW_ASSIGN_OR_RETURN(PgResult head_result, ctx_.Read(kHeadSeq));
  if (head_result.rows() != 1) return Status::DataLoss("the audit head row is missing");
  ESCROW_ASSIGN_OR_RETURN(std::uint64_t head, head_result.Uint64(0, 0));
  if (row.seq <= head) {
    return Status::AlreadyExists("audit record " + std::to_string(row.seq) + " exists");
  }
  if (row.seq != head + 1) {
    return Status::InvalidArgument("audit record " + std::to_string(row.seq) +
                                   " would leave a gap after " + std::to_string(head));
  }
  PgParams params;
  AddPgAudit(params, row);
  return ctx_.Change(kAppend, params).status();
}

}  // namespace escrow::storage
