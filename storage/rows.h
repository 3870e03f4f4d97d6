#pragma once

#include "storage/statement.h"
#include "storage/store.h"

namespace escrow::storage {

// Binding rows to, and reading them from, the statements of queries.h, in the column order
// given there. Readers return kDataLoss for a value that cannot be ours (the file is
// untrusted); binders return what Statement's binds return.

Status BindDevice(Statement& stmt, const DeviceRow& row);  // ?1 .. ?11
Result<DeviceRow> ReadDevice(const Statement& stmt);

Status BindKeyVersion(Statement& stmt, const KeyVersionRow& row);  // ?1 .. ?13
Result<KeyVersionRow> ReadKeyVersion(const Statement& stmt);

Status BindAudit(Statement& stmt, const AuditRow& row);  // ?1 .. ?12
Result<AuditRow> ReadAudit(const Statement& stmt);

}  // namespace escrow::storage
