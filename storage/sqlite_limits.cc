#include "storage/sqlite_limits.h"

#include "storage/database.h"
#include "storage/queries.h"
#include "storage/row_codec.h"

namespace escrow::storage {
namespace {

Result<QuotaWindow> ReadWindow(Database& db, std::string_view principal, std::int64_t since_ms) {
  ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(queries::kQuotaWindow));
  ESCROW_RETURN_IF_ERROR(stmt->BindText(1, principal));
  ESCROW_RETURN_IF_ERROR(stmt->BindInt64(2, since_ms));
  ESCROW_ASSIGN_OR_RETURN(std::optional<QuotaWindow> window,
                          ReadOne<QuotaWindow>(*stmt, ReadQuotaWindow));
  if (!window) return Status::Internal("read quota window: no row");
  return *window;
}

}  // namespace

Result<QuotaWindow> SqliteLimits::GetQuotaWindow(std::string_view principal,
                                                 std::int64_t since_ms) {
  return ctx_.Run([&](Database& db) { return ReadWindow(db, principal, since_ms); });
}

Result<QuotaWindow> SqliteLimits::AddQuotaEvent(std::string_view principal, std::int64_t at_ms,
                                                std::int64_t since_ms) {
  return ctx_.Run([&](Database& db) -> Result<QuotaWindow> {
    {
      ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(queries::kPruneQuotaEvents));
      ESCROW_RETURN_IF_ERROR(stmt->BindText(1, principal));
      ESCROW_RETURN_IF_ERROR(stmt->BindInt64(2, since_ms));
      ESCROW_RETURN_IF_ERROR(stmt->Run());
    }
    {
      ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db.Prepare(queries::kInsertQuotaEvent));
      ESCROW_RETURN_IF_ERROR(stmt->BindText(1, principal));
      ESCROW_RETURN_IF_ERROR(stmt->BindInt64(2, at_ms));
      ESCROW_RETURN_IF_ERROR(stmt->Run());
    }
    return ReadWindow(db, principal, since_ms);
  });
}

}  // namespace escrow::storage
