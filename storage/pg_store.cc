#include "storage/pg_store.h"

#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>

#include "storage/pg_migrations.h"
#include "storage/pg_txn.h"
#include "storage/pg_url.h"
#include "storage/writing_thread_mark.h"

namespace escrow::storage {
namespace {

constexpr int kMaxReadConnections = 64;

constexpr std::string_view kBeginWrite = "BEGIN ISOLATION LEVEL READ COMMITTED";
// The head row lock that serialises writers across nodes (pg_store.h).
constexpr Query kLockHead{"lock audit head", "SELECT seq FROM audit_head WHERE id = 1 FOR UPDATE"};
constexpr std::string_view kBeginRead = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";

constexpr Query kCheckHead{
    "check audit head",
    "SELECT (SELECT seq FROM audit_head WHERE id = 1), coalesce(max(seq), 0), count(*) "
    "FROM audit"};
constexpr Query kCheckCounts{
    "check key version counts",
    "SELECT count(*) FROM (SELECT master_key_version, count(*) AS n FROM key_versions "
    "GROUP BY master_key_version) AS actual FULL JOIN "
    "(SELECT master_key_version, count AS n FROM key_version_counts WHERE count > 0) AS kept "
    "USING (master_key_version) WHERE actual.n IS DISTINCT FROM kept.n"};

// Ends a transaction that must not commit; a connection that cannot is not reused.
void RollBack(PgConnection& conn) {
  if (!conn.in_transaction()) return;
  if (Status s = conn.Run("roll back", "ROLLBACK"); !s.ok()) conn.MarkBroken();
}

Status RunWrite(PgConnection& conn, const std::function<Status(WriteTxn&)>& fn) {
  ESCROW_RETURN_IF_ERROR(conn.Run("begin write", std::string(kBeginWrite)));
  Result<PgResult> head = conn.Exec(kLockHead);
  if (!head.ok() || head->rows() != 1) {
    RollBack(conn);
    return head.ok() ? Status::DataLoss("the audit head row is missing") : head.status();
  }
  PgWriteTxn txn(conn);
  Status s = fn(txn);
  // Fail closed: a callback that ignored an error which ended the transaction commits nothing.
  if (s.ok()) s = txn.poison();
  if (!s.ok()) {
    RollBack(conn);
    return s;
  }
  return conn.Commit();
}

}  // namespace

Result<PgConnectOptions> PgConnectOptionsFor(const StoreOptions& options) {
  ESCROW_ASSIGN_OR_RETURN(PostgresTarget target, ParsePostgresUrl(options.url));
  // The password comes from a 0600 file only (API.md): libpq would otherwise take one
  // from the environment.
  if (std::getenv("PGPASSWORD") != nullptr) {  // NOLINT(concurrency-mt-unsafe): read at open
    return Status::FailedPrecondition(
        "PGPASSWORD is set: the database password must come from password_file");
  }
  PgConnectOptions connect;
  connect.params = std::move(target.params);
  if (!options.password_file.empty()) {
    ESCROW_ASSIGN_OR_RETURN(std::string password, ReadPasswordFile(options.password_file));
    connect.params.emplace_back("password", std::move(password));
  }
  connect.params.emplace_back("connect_timeout", "10");
  connect.params.emplace_back("application_name", "vaultd");
  connect.lock_timeout_ms = options.busy_timeout_ms;
  return connect;
}

Result<std::unique_ptr<PgStore>> PgStore::Open(const StoreOptions& options) {
  if (options.read_connections < 1 || options.read_connections > kMaxReadConnections) {
    return Status::InvalidArgument("read_connections must be between 1 and " +
                                   std::to_string(kMaxReadConnections));
  }
  if (options.busy_timeout_ms < 1) return Status::InvalidArgument("busy_timeout_ms must be > 0");
  ESCROW_ASSIGN_OR_RETURN(PgConnectOptions connect, PgConnectOptionsFor(options));
  std::unique_ptr<PgStore> store(new PgStore(options, std::move(connect)));
  ESCROW_ASSIGN_OR_RETURN(store->writer_, PgConnection::Open(store->connect_));
  ESCROW_ASSIGN_OR_RETURN(int version, PgMigrate(*store->writer_, options.create));
  store->schema_version_ = version;
  PgStore* raw = store.get();
  store->readers_ = std::make_unique<PgConnectionPool>(
      options.read_connections, [raw] { return PgConnection::Open(raw->connect_); });
  // One reader now, so that a database that refuses reads fails at open, not at first use.
  ESCROW_RETURN_IF_ERROR(store->readers_->Borrow().status());
  return store;
}

Status PgStore::Read(const std::function<Status(ReadTxn&)>& fn) {
  ESCROW_ASSIGN_OR_RETURN(PgConnectionPool::Lease lease, readers_->Borrow());
  ESCROW_RETURN_IF_ERROR(lease->Run("begin read", std::string(kBeginRead)));
  PgReadTxn txn(*lease);
  Status s = fn(txn);
  if (s.ok()) s = txn.poison();
  if (!s.ok()) {
    RollBack(*lease);
    return s;
  }
  return lease->Commit();
}

Status PgStore::Write(const std::function<Status(WriteTxn&)>& fn) {
  if (writing_thread_.load() == std::this_thread::get_id()) {
    // The mutex is not recursive: this would deadlock. Nested work belongs in Isolated().
    return Status::Internal("Store::Write called from inside a Write callback");
  }
  std::lock_guard lock(write_mu_);
  WritingThreadMark mark(writing_thread_);
  return WriteLocked(fn);
}

Status PgStore::WriteLocked(const std::function<Status(WriteTxn&)>& fn) {
  if (writer_ == nullptr) {
    Result<std::unique_ptr<PgConnection>> reopened = PgConnection::Open(connect_);
    if (!reopened.ok()) return reopened.status().WithContext("reopen database");
    writer_ = std::move(reopened).value();
  }
  Status s = RunWrite(*writer_, fn);
  // A connection that failed, or could not end its transaction, is replaced before the next
  // Write rather than trusted again.
  if (writer_->broken() || writer_->in_transaction()) writer_.reset();
  return s;
}

Status PgStore::BackupTo(const std::string& /*path*/) {
  return Status::FailedPrecondition(
      "db backup copies SQLite files only; back a PostgreSQL vault up with the server's tools "
      "(pg_basebackup, or pg_dump)");
}

Status PgStore::IntegrityCheck() {
  ESCROW_ASSIGN_OR_RETURN(PgConnectionPool::Lease lease, readers_->Borrow());
  ESCROW_RETURN_IF_ERROR(lease->Run("begin read", std::string(kBeginRead)));
  Status s = [&]() -> Status {
    ESCROW_ASSIGN_OR_RETURN(PgResult head, lease->Exec(kCheckHead));
    if (head.rows() != 1 || head.IsNull(0, 0)) return Status::DataLoss("audit head row missing");
    ESCROW_ASSIGN_OR_RETURN(std::int64_t head_seq, head.Int64(0, 0));
    ESCROW_ASSIGN_OR_RETURN(std::int64_t max_seq, head.Int64(0, 1));
    ESCROW_ASSIGN_OR_RETURN(std::int64_t count, head.Int64(0, 2));
    if (head_seq != max_seq) return Status::DataLoss("audit head row is not the newest record");
    if (count != max_seq) return Status::DataLoss("the audit sequence has a gap");
    ESCROW_ASSIGN_OR_RETURN(PgResult counts, lease->Exec(kCheckCounts));
    ESCROW_ASSIGN_OR_RETURN(std::int64_t wrong, counts.Int64(0, 0));
    if (wrong != 0) return Status::DataLoss("key version counts differ from the key versions");
    return Status::Ok();
  }();
  RollBack(*lease);
  return s;
}

}  // namespace escrow::storage
