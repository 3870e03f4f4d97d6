#pragma once

#include <optional>
#include <utility>
#include <vector>

#include "storage/rows.h"
#include "storage/statement.h"

namespace escrow::storage {

// Binding rows to, and reading them from, the statements of queries.h, in the column order
// given there. Readers return kDataLoss for a value that cannot be ours (the file is
// untrusted), such as a text that names no enum value; binders return kInvalidArgument for an
// enum value that is not one of ours, else what Statement's binds return.

Status BindDevice(Statement& stmt, const DeviceRow& row);  // ?1 .. ?11
Result<DeviceRow> ReadDevice(const Statement& stmt);

Status BindKeyVersion(Statement& stmt, const KeyVersionRow& row);  // ?1 .. ?16
Result<KeyVersionRow> ReadKeyVersion(const Statement& stmt);
Status BindDeviceState(Statement& stmt, const DeviceStateRow& row);  // ?1 .. ?8
Result<DeviceStateRow> ReadDeviceState(const Statement& stmt);

Status BindAudit(Statement& stmt, const AuditRow& row);  // ?1 .. ?12
Result<AuditRow> ReadAudit(const Statement& stmt);

Result<QuotaWindow> ReadQuotaWindow(const Statement& stmt);  // queries::kQuotaWindow's row

// One enum value bound as its stored text (kInvalidArgument, naming the statement, if it is
// not one of ours).
Status BindPlatform(Statement& stmt, int index, Platform value);
Status BindOwnership(Statement& stmt, int index, Ownership value);
Status BindVersionState(Statement& stmt, int index, VersionState value);
Status BindPrincipalKind(Statement& stmt, int index, PrincipalKind value);
Status BindKeySource(Statement& stmt, int index, KeySource value);

// kNotFound "<what> not found" if the last UPDATE (by primary key) matched nothing.
Status ExpectOneChange(const Database& db, std::string_view what);

template <class Row>
using RowReader = Result<Row> (*)(const Statement&);

// The statement's first row, if any, read with `read`.
template <class Row>
Result<std::optional<Row>> ReadOne(Statement& stmt, RowReader<Row> read) {
  ESCROW_ASSIGN_OR_RETURN(bool has_row, stmt.Step());
  if (!has_row) return std::optional<Row>();
  ESCROW_ASSIGN_OR_RETURN(Row row, read(stmt));
  return std::optional<Row>(std::move(row));
}

// Every row of the statement, read with `read`.
template <class Row>
Result<std::vector<Row>> ReadAll(Statement& stmt, RowReader<Row> read) {
  std::vector<Row> rows;
  while (true) {
    ESCROW_ASSIGN_OR_RETURN(bool has_row, stmt.Step());
    if (!has_row) break;
    ESCROW_ASSIGN_OR_RETURN(Row row, read(stmt));
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace escrow::storage
