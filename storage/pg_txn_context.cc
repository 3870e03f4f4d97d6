#include "storage/pg_txn_context.h"

#include <string>

namespace escrow::storage {

bool IsRowLevel(const Status& s) {
  return s.code() == Code::kAlreadyExists || s.code() == Code::kNotFound ||
         s.code() == Code::kInvalidArgument || s.code() == Code::kFailedPrecondition;
}

void PgTxnContext::Track(const Status& s) {
  if (!poison_.ok() || s.ok() || IsRowLevel(s)) return;
  poison_ = s;
}

Status PgTxnContext::RunControl(std::string_view name, const std::string& sql) {
  if (!poison_.ok()) return poison_;
  Status s = conn_.Run(name, sql);
  if (!s.ok()) poison_ = s;
  return s;
}

Result<PgResult> PgTxnContext::Read(const Query& query, const PgParams& params) {
  if (!poison_.ok()) return poison_;
  Result<PgResult> result = conn_.Exec(query, params);
  if (!result.ok() && !params.has_nul()) {
    // The server refused the statement: the transaction is aborted whatever the code.
    poison_ = IsRowLevel(result.status())
                  ? Status::Unavailable(result.status().message() +
                                        " (the transaction was rolled back)")
                  : result.status();
  }
  return result;
}

Result<PgResult> PgTxnContext::Change(const Query& query, const PgParams& params) {
  if (!poison_.ok()) return poison_;
  if (params.has_nul()) return conn_.Exec(query, params);  // refused before it is sent
  ESCROW_RETURN_IF_ERROR(RunControl("savepoint", "SAVEPOINT escrow_change"));
  Result<PgResult> result = conn_.Exec(query, params);
  if (result.ok()) {
    ESCROW_RETURN_IF_ERROR(RunControl("release savepoint", "RELEASE SAVEPOINT escrow_change"));
    return result;
  }
  if (!IsRowLevel(result.status())) {
    poison_ = result.status();
    return result;
  }
  ESCROW_RETURN_IF_ERROR(RunControl("roll back to savepoint",
                                    "ROLLBACK TO SAVEPOINT escrow_change; "
                                    "RELEASE SAVEPOINT escrow_change"));
  return result;
}

Status PgTxnContext::BeginSavepoint(int depth) {
  return RunControl("savepoint", "SAVEPOINT escrow_isolated_" + std::to_string(depth));
}

Status PgTxnContext::ReleaseSavepoint(int depth) {
  return RunControl("release savepoint",
                    "RELEASE SAVEPOINT escrow_isolated_" + std::to_string(depth));
}

Status PgTxnContext::RollbackToSavepoint(int depth) {
  const std::string name = "escrow_isolated_" + std::to_string(depth);
  return RunControl("roll back to savepoint",
                    "ROLLBACK TO SAVEPOINT " + name + "; RELEASE SAVEPOINT " + name);
}

}  // namespace escrow::storage
