#include "storage/sqlite_meta_values.h"

#include "storage/database.h"
#include "storage/queries.h"

namespace escrow::storage {

Result<std::optional<std::string>> SqliteMetaValues::Get(std::string_view key) {
  return ctx_.Run([&](Database& db) -> Result<std::optional<std::string>> {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(queries::kGetMeta));
    ESCROW_RETURN_IF_ERROR(stmt->BindText(1, key));
    ESCROW_ASSIGN_OR_RETURN(bool has_row, stmt->Step());
    if (!has_row) return std::optional<std::string>();
    return std::optional<std::string>(stmt->ColumnText(0));
  });
}

Status SqliteMetaValues::Set(std::string_view key, std::string_view value) {
  return ctx_.Run([&](Database& db) -> Status {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(queries::kSetMeta));
    ESCROW_RETURN_IF_ERROR(stmt->BindText(1, key));
    ESCROW_RETURN_IF_ERROR(stmt->BindText(2, value));
    return stmt->Run();
  });
}

}  // namespace escrow::storage
