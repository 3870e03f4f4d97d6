#include "storage/sqlite_txn_context.h"

#include "storage/database.h"

namespace escrow::storage {

void SqliteTxnContext::Track(const Status& s) {
  if (!poison_.ok() || s.ok()) return;
  const bool fatal =
      s.code() == Code::kUnavailable || s.code() == Code::kDataLoss || s.code() == Code::kInternal;
  if (fatal) {
    poison_ = s;
  } else if (!db_.in_transaction()) {
    poison_ = Status::Unavailable("the transaction was rolled back by an error");
  }
}

}  // namespace escrow::storage
