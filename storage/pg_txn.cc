#include "storage/pg_txn.h"

namespace escrow::storage {

Status PgWriteTxn::Isolated(const std::function<Status(WriteTxn&)>& fn) {
  if (!ctx_.poison().ok()) return ctx_.poison();
  ESCROW_RETURN_IF_ERROR(ctx_.BeginSavepoint(depth_ + 1));
  ++depth_;
  Status s = fn(*this);
  if (s.ok() && !ctx_.poison().ok()) s = ctx_.poison();
  Status end = ctx_.poison().ok()
                   ? (s.ok() ? ctx_.ReleaseSavepoint(depth_) : ctx_.RollbackToSavepoint(depth_))
                   : ctx_.poison();
  --depth_;
  return s.ok() ? end : s;
}

}  // namespace escrow::storage
