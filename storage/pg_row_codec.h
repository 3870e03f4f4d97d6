#pragma once

#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "storage/pg_connection.h"
#include "storage/rows.h"

namespace escrow::storage {

// Rows to PostgreSQL parameters and back, in the column orders of pg_queries.h (private to
// storage/). Readers return kDataLoss for a value that cannot be ours (the database is
// untrusted); adders return kInvalidArgument for an enum value that is not one of ours.

Status AddPgDevice(PgParams& params, const DeviceRow& row);  // 13 values
Result<DeviceRow> ReadPgDevice(const PgResult& result, int row);
Status AddPgKeyVersion(PgParams& params, const KeyVersionRow& row);  // 19 values
Result<KeyVersionRow> ReadPgKeyVersion(const PgResult& result, int row);
void AddPgDeviceState(PgParams& params, const DeviceStateRow& row);  // 9 values
Result<DeviceStateRow> ReadPgDeviceState(const PgResult& result, int row);
void AddPgAudit(PgParams& params, const AuditRow& row);  // 12 values
Result<AuditRow> ReadPgAudit(const PgResult& result, int row);

// One enum value as its stored text; kInvalidArgument naming `what` if it is not ours.
Status AddPgPlatform(PgParams& params, Platform value);
Status AddPgVersionState(PgParams& params, VersionState value);

// `s` with the statement's name in front of its message, if it is an error.
inline Status Named(const Status& s, const Query& query) {
  return s.ok() ? s : s.WithContext(query.name);
}

// kNotFound "<what> not found" if the change matched no row.
Status ExpectPgOneChange(const PgResult& result, std::string_view what);

template <class Row>
using PgRowReader = Result<Row> (*)(const PgResult&, int);

// The result's first row, if any, read with `read`.
template <class Row>
Result<std::optional<Row>> ReadPgOne(const PgResult& result, PgRowReader<Row> read) {
  if (result.rows() == 0) return std::optional<Row>();
  ESCROW_ASSIGN_OR_RETURN(Row row, read(result, 0));
  return std::optional<Row>(std::move(row));
}

// Every row of the result, read with `read`.
template <class Row>
Result<std::vector<Row>> ReadPgAll(const PgResult& result, PgRowReader<Row> read) {
  std::vector<Row> rows;
  rows.reserve(static_cast<std::size_t>(result.rows()));
  for (int i = 0; i < result.rows(); ++i) {
    ESCROW_ASSIGN_OR_RETURN(Row row, read(result, i));
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace escrow::storage
