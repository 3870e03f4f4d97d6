#include "storage/sqlite_txn.h"

#include "storage/transaction.h"

namespace escrow::storage {

Status SqliteWriteTxn::Isolated(const std::function<Status(WriteTxn&)>& fn) {
  if (!ctx_.poison().ok()) return ctx_.poison();
  Result<Savepoint> savepoint = Savepoint::Begin(ctx_.db(), depth_ + 1);
  if (!savepoint.ok()) {
    ctx_.Track(savepoint.status());
    return savepoint.status();
  }
  ++depth_;
  Status s = fn(*this);
  if (s.ok() && !ctx_.poison().ok()) s = ctx_.poison();
  Status end = s.ok() ? savepoint->Release() : savepoint->Rollback();
  --depth_;
  ctx_.Track(end);
  return s.ok() ? end : s;
}

}  // namespace escrow::storage
