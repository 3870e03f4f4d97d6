#include "storage/write_txn.h"

#include <string>
#include <vector>

#include "storage/database.h"
#include "storage/queries.h"
#include "storage/rows.h"
#include "storage/transaction.h"

namespace escrow::storage {
namespace {

// An UPDATE by primary key that matched nothing.
Status ExpectOneChange(const Database& db, std::string_view what) {
  if (db.changes() == 0) return Status::NotFound(std::string(what) + " not found");
  return Status::Ok();
}

}  // namespace

// Statements below bail out early when poisoned, so that nothing runs in autocommit mode
// after SQLite has rolled the transaction back on its own.
#define ESCROW_TXN_USABLE()            \
  do {                                 \
    if (!poison_.ok()) return poison_; \
  } while (false)

Status SqliteWriteTxn::Track(Status s) {
  if (poison_.ok()) {
    const bool fatal = s.code() == Code::kUnavailable || s.code() == Code::kDataLoss ||
                       s.code() == Code::kInternal;
    if (fatal) {
      poison_ = s;
    } else if (!db_.in_transaction()) {
      poison_ = Status::Unavailable("the write transaction was rolled back by an error");
    }
  }
  return s;
}

Status SqliteWriteTxn::UpsertDevice(const DeviceRow& row) {
  ESCROW_TXN_USABLE();
  auto run = [&]() -> Status {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db_.Prepare(queries::kUpsertDevice));
    ESCROW_RETURN_IF_ERROR(BindDevice(*stmt, row));
    return stmt->Run();
  };
  return Track(run());
}

Status SqliteWriteTxn::SetRotationPending(std::string_view device_id, bool pending) {
  ESCROW_TXN_USABLE();
  auto run = [&]() -> Status {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db_.Prepare(queries::kSetRotationPending));
    ESCROW_RETURN_IF_ERROR(stmt->BindText(1, device_id));
    ESCROW_RETURN_IF_ERROR(stmt->BindBool(2, pending));
    ESCROW_RETURN_IF_ERROR(stmt->Run());
    return ExpectOneChange(db_, "device");
  };
  return Track(run());
}

Status SqliteWriteTxn::SetCheckin(std::string_view device_id, std::int64_t when_ms) {
  ESCROW_TXN_USABLE();
  auto run = [&]() -> Status {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db_.Prepare(queries::kSetCheckin));
    ESCROW_RETURN_IF_ERROR(stmt->BindText(1, device_id));
    ESCROW_RETURN_IF_ERROR(stmt->BindInt64(2, when_ms));
    ESCROW_RETURN_IF_ERROR(stmt->Run());
    return ExpectOneChange(db_, "device");
  };
  return Track(run());
}

Status SqliteWriteTxn::InsertKeyVersion(const KeyVersionRow& row) {
  ESCROW_TXN_USABLE();
  auto run = [&]() -> Status {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db_.Prepare(queries::kInsertKeyVersion));
    ESCROW_RETURN_IF_ERROR(BindKeyVersion(*stmt, row));
    return stmt->Run();
  };
  return Track(run());
}

Status SqliteWriteTxn::SetKeyVersionState(std::string_view device_id, std::uint32_t version,
                                          std::string_view state) {
  ESCROW_TXN_USABLE();
  auto run = [&]() -> Status {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db_.Prepare(queries::kSetKeyVersionState));
    ESCROW_RETURN_IF_ERROR(stmt->BindText(1, device_id));
    ESCROW_RETURN_IF_ERROR(stmt->BindUint32(2, version));
    ESCROW_RETURN_IF_ERROR(stmt->BindText(3, state));
    ESCROW_RETURN_IF_ERROR(stmt->Run());
    return ExpectOneChange(db_, "key version");
  };
  return Track(run());
}

Status SqliteWriteTxn::SetBurned(std::string_view device_id, std::uint32_t version) {
  ESCROW_TXN_USABLE();
  auto run = [&]() -> Status {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db_.Prepare(queries::kSetBurned));
    ESCROW_RETURN_IF_ERROR(stmt->BindText(1, device_id));
    ESCROW_RETURN_IF_ERROR(stmt->BindUint32(2, version));
    ESCROW_RETURN_IF_ERROR(stmt->Run());
    return ExpectOneChange(db_, "key version");
  };
  return Track(run());
}

Status SqliteWriteTxn::SupersedeActiveKeyVersions(std::string_view device_id) {
  ESCROW_TXN_USABLE();
  auto list = [&]() -> Result<std::vector<std::uint32_t>> {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db_.Prepare(queries::kListActiveVersions));
    ESCROW_RETURN_IF_ERROR(stmt->BindText(1, device_id));
    return ReadAll<std::uint32_t>(*stmt, [](const Statement& row) { return row.ColumnUint32(0); });
  };
  Result<std::vector<std::uint32_t>> active = list();
  if (!active.ok()) return Track(active.status());
  for (const std::uint32_t version : *active) {
    ESCROW_RETURN_IF_ERROR(SetKeyVersionState(device_id, version, "superseded"));
  }
  return Status::Ok();
}

Status SqliteWriteTxn::BurnActiveKeyVersions(std::string_view device_id) {
  ESCROW_TXN_USABLE();
  auto run = [&]() -> Status {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db_.Prepare(queries::kBurnActive));
    ESCROW_RETURN_IF_ERROR(stmt->BindText(1, device_id));
    return stmt->Run();
  };
  return Track(run());
}

Status SqliteWriteTxn::ReplaceSealed(std::string_view device_id, std::uint32_t version,
                                     std::uint32_t expected_old_master_version,
                                     std::uint32_t new_master_version, const Bytes& iv,
                                     const Bytes& ciphertext, const Bytes& tag) {
  ESCROW_TXN_USABLE();
  auto run = [&]() -> Status {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db_.Prepare(queries::kReplaceSealed));
    ESCROW_RETURN_IF_ERROR(stmt->BindText(1, device_id));
    ESCROW_RETURN_IF_ERROR(stmt->BindUint32(2, version));
    ESCROW_RETURN_IF_ERROR(stmt->BindUint32(3, expected_old_master_version));
    ESCROW_RETURN_IF_ERROR(stmt->BindUint32(4, new_master_version));
    ESCROW_RETURN_IF_ERROR(stmt->BindBlob(5, iv));
    ESCROW_RETURN_IF_ERROR(stmt->BindBlob(6, ciphertext));
    ESCROW_RETURN_IF_ERROR(stmt->BindBlob(7, tag));
    ESCROW_RETURN_IF_ERROR(stmt->Run());
    // Absent, or already re-sealed by a concurrent rotation: either way not this version.
    return ExpectOneChange(db_, "key version under the expected master key version");
  };
  return Track(run());
}

Status SqliteWriteTxn::AppendAudit(const AuditRow& row) {
  ESCROW_TXN_USABLE();
  return Track(DoAppendAudit(row));
}

Status SqliteWriteTxn::DoAppendAudit(const AuditRow& row) {
  // The chain is gap-free: the next record is the head plus one (max(seq) reads one b-tree
  // edge). A lower seq exists already; a higher one would leave a hole.
  std::uint64_t head = 0;
  {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db_.Prepare(queries::kLastAuditSeq));
    ESCROW_ASSIGN_OR_RETURN(bool has_row, stmt->Step());
    if (!has_row) return Status::Internal("read audit head: no row");
    ESCROW_ASSIGN_OR_RETURN(head, stmt->ColumnUint64(0));
  }
  if (row.seq <= head) {
    return Status::AlreadyExists("audit record " + std::to_string(row.seq) + " exists");
  }
  if (row.seq != head + 1) {
    return Status::InvalidArgument("audit record " + std::to_string(row.seq) +
                                   " would leave a gap after " + std::to_string(head));
  }
  ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db_.Prepare(queries::kAppendAudit));
  ESCROW_RETURN_IF_ERROR(BindAudit(*stmt, row));
  return stmt->Run();
}

Status SqliteWriteTxn::SetMeta(std::string_view key, std::string_view value) {
  ESCROW_TXN_USABLE();
  auto run = [&]() -> Status {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db_.Prepare(queries::kSetMeta));
    ESCROW_RETURN_IF_ERROR(stmt->BindText(1, key));
    ESCROW_RETURN_IF_ERROR(stmt->BindText(2, value));
    return stmt->Run();
  };
  return Track(run());
}

Result<std::optional<std::string>> SqliteWriteTxn::GetMeta(std::string_view key) {
  ESCROW_TXN_USABLE();
  auto run = [&]() -> Result<std::optional<std::string>> {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db_.Prepare(queries::kGetMeta));
    ESCROW_RETURN_IF_ERROR(stmt->BindText(1, key));
    ESCROW_ASSIGN_OR_RETURN(bool has_row, stmt->Step());
    if (!has_row) return std::optional<std::string>();
    return std::optional<std::string>(stmt->ColumnText(0));
  };
  Result<std::optional<std::string>> value = run();
  if (!value.ok()) return Track(value.status());
  return value;
}

Result<std::optional<AuditRow>> SqliteWriteTxn::LastAudit() {
  ESCROW_TXN_USABLE();
  auto run = [&]() -> Result<std::optional<AuditRow>> {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db_.Prepare(queries::kLastAudit));
    return ReadOne<AuditRow>(*stmt, ReadAudit);
  };
  Result<std::optional<AuditRow>> row = run();
  if (!row.ok()) return Track(row.status());
  return row;
}

Result<QuotaWindow> SqliteWriteTxn::AddQuotaEvent(std::string_view principal, std::int64_t at_ms,
                                                  std::int64_t since_ms) {
  ESCROW_TXN_USABLE();
  Result<QuotaWindow> window = DoAddQuotaEvent(principal, at_ms, since_ms);
  if (!window.ok()) return Track(window.status());
  return window;
}

Result<QuotaWindow> SqliteWriteTxn::DoAddQuotaEvent(std::string_view principal, std::int64_t at_ms,
                                                    std::int64_t since_ms) {
  {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db_.Prepare(queries::kPruneQuotaEvents));
    ESCROW_RETURN_IF_ERROR(stmt->BindText(1, principal));
    ESCROW_RETURN_IF_ERROR(stmt->BindInt64(2, since_ms));
    ESCROW_RETURN_IF_ERROR(stmt->Run());
  }
  {
    ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db_.Prepare(queries::kInsertQuotaEvent));
    ESCROW_RETURN_IF_ERROR(stmt->BindText(1, principal));
    ESCROW_RETURN_IF_ERROR(stmt->BindInt64(2, at_ms));
    ESCROW_RETURN_IF_ERROR(stmt->Run());
  }
  ESCROW_ASSIGN_OR_RETURN(StatementLease stmt, db_.Prepare(queries::kQuotaWindow));
  ESCROW_RETURN_IF_ERROR(stmt->BindText(1, principal));
  ESCROW_RETURN_IF_ERROR(stmt->BindInt64(2, since_ms));
  ESCROW_ASSIGN_OR_RETURN(std::optional<QuotaWindow> window,
                          ReadOne<QuotaWindow>(*stmt, ReadQuotaWindow));
  if (!window) return Status::Internal("read quota window: no row");
  return *window;
}

Status SqliteWriteTxn::Isolated(const std::function<Status(WriteTxn&)>& fn) {
  ESCROW_TXN_USABLE();
  Result<Savepoint> savepoint = Savepoint::Begin(db_, depth_ + 1);
  if (!savepoint.ok()) return Track(savepoint.status());
  ++depth_;
  Status s = fn(*this);
  if (s.ok() && !poison_.ok()) s = poison_;
  Status end = s.ok() ? savepoint->Release() : savepoint->Rollback();
  --depth_;
  end = Track(end);
  return s.ok() ? end : s;
}

#undef ESCROW_TXN_USABLE

}  // namespace escrow::storage
