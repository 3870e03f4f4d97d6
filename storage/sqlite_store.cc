#include "storage/sqlite_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

#include "base/unique_fd.h"
#include "storage/maintenance.h"
#include "storage/migrations.h"
#include "storage/pg_store.h"
#include "storage/sqlite_txn.h"
#include "storage/transaction.h"
#include "storage/writing_thread_mark.h"

namespace escrow::storage {
namespace {

constexpr int kMaxReadConnections = 64;

// Borrows a read connection for the length of `fn`.
template <class Fn>
auto WithReader(ConnectionPool& pool, Fn&& fn) -> decltype(fn(std::declval<Database&>())) {
  Result<ConnectionPool::Lease> lease = pool.Borrow();
  if (!lease.ok()) return lease.status();
  return fn(**lease);
}

// Runs `fn` in BEGIN IMMEDIATE ... COMMIT on `db`; rolls back if it or the commit fails.
Status RunInTransaction(Database& db, const std::function<Status(WriteTxn&)>& fn) {
  ESCROW_ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(db));
  SqliteWriteTxn write(db);
  Status s = fn(write);
  // Fail closed: a callback that ignored an error which ended the transaction commits nothing.
  if (s.ok()) s = write.poison();
  if (!s.ok()) {
    if (Status undo = txn.Rollback(); !undo.ok()) return s.WithContext(undo.message());
    return s;
  }
  return txn.Commit();
}

// Creates the file 0600 before SQLite does (it would use 0644): it holds ciphertext, owners
// and the audit trail, and SQLite gives the -wal and -shm files the same mode.
Status CreatePrivateFile(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd.valid()) {
    if (errno == EEXIST) return Status::Ok();  // created meanwhile: open it as it is
    return Status::Unavailable("create " + path + ": " + std::strerror(errno));
  }
  return fd.Close(path);
}

std::string ParentDirectory(const std::string& path) {
  std::string dir = std::filesystem::path(path).parent_path().string();
  return dir.empty() ? "." : dir;
}


}  // namespace

Result<std::unique_ptr<Store>> Store::Open(const StoreOptions& options) {
  if (!options.url.empty()) {
    if (!options.path.empty()) return Status::InvalidArgument("store has both a path and a url");
    ESCROW_ASSIGN_OR_RETURN(std::unique_ptr<PgStore> store, PgStore::Open(options));
    return std::unique_ptr<Store>(std::move(store));
  }
  ESCROW_ASSIGN_OR_RETURN(std::unique_ptr<SqliteStore> store, SqliteStore::Open(options));
  return std::unique_ptr<Store>(std::move(store));
}

Result<std::unique_ptr<SqliteStore>> SqliteStore::Open(const StoreOptions& options) {
  if (options.path.empty()) return Status::InvalidArgument("store path is empty");
  if (options.read_connections < 1 || options.read_connections > kMaxReadConnections) {
    return Status::InvalidArgument("read_connections must be between 1 and " +
                                   std::to_string(kMaxReadConnections));
  }
  if (options.busy_timeout_ms < 0) return Status::InvalidArgument("busy_timeout_ms is negative");

  std::error_code ec;
  const bool existed = std::filesystem::exists(options.path, ec);
  if (!existed) {
    if (!options.create) return Status::Unavailable("database not found: " + options.path);
    ESCROW_RETURN_IF_ERROR(CreatePrivateFile(options.path));
  }

  std::unique_ptr<SqliteStore> store(new SqliteStore(options));
  ESCROW_ASSIGN_OR_RETURN(store->writer_, store->OpenWriter(options.create));
  if (!existed) ESCROW_RETURN_IF_ERROR(SyncDirectory(ParentDirectory(options.path)));

  SqliteStore* raw = store.get();
  ESCROW_ASSIGN_OR_RETURN(store->readers_, ConnectionPool::Create(options.read_connections, [raw] {
                            return raw->OpenReader();
                          }));
  return store;
}

SqliteStore::~SqliteStore() {
  // Readers first: the writer, closing last, checkpoints the WAL into the file.
  readers_.reset();
  writer_.reset();
}

Result<std::unique_ptr<Database>> SqliteStore::OpenWriter(bool create) {
  ESCROW_ASSIGN_OR_RETURN(std::unique_ptr<Database> db,
                          Database::Open({.path = options_.path,
                                          .create = create,
                                          .read_only = false,
                                          .busy_timeout_ms = options_.busy_timeout_ms,
                                          .enable_wal = false}));
  // Only a file known to be ours (or empty) is switched to WAL and migrated.
  ESCROW_RETURN_IF_ERROR(CheckSchema(*db, create).status());
  ESCROW_RETURN_IF_ERROR(db->EnableWal());
  ESCROW_ASSIGN_OR_RETURN(int version, Migrate(*db, create));
  schema_version_ = version;
  return db;
}

Result<std::unique_ptr<Database>> SqliteStore::OpenReader() const {
  return Database::Open({.path = options_.path,
                         .create = false,
                         .read_only = true,
                         .busy_timeout_ms = options_.busy_timeout_ms});
}

Status SqliteStore::Read(const std::function<Status(ReadTxn&)>& fn) {
  return WithReader(*readers_, [&](Database& db) -> Status {
    ESCROW_ASSIGN_OR_RETURN(Transaction txn, Transaction::BeginRead(db));
    SqliteReadTxn read(db);
    Status s = fn(read);
    if (s.ok()) s = read.poison();
    if (!s.ok()) return s;  // the destructor ends the snapshot
    return txn.Commit();
  });
}

Status SqliteStore::Write(const std::function<Status(WriteTxn&)>& fn) {
  if (writing_thread_.load() == std::this_thread::get_id()) {
    // The mutex is not recursive: this would deadlock. Nested work belongs in Isolated().
    return Status::Internal("Store::Write called from inside a Write callback");
  }
  std::lock_guard lock(write_mu_);
  WritingThreadMark mark(writing_thread_);
  return WriteLocked(fn);
}

Status SqliteStore::WriteLocked(const std::function<Status(WriteTxn&)>& fn) {
  if (writer_ == nullptr) {
    Result<std::unique_ptr<Database>> reopened = OpenWriter(/*create=*/false);
    if (!reopened.ok()) return reopened.status().WithContext("reopen database");
    writer_ = std::move(reopened).value();
  }
  Status s = RunInTransaction(*writer_, fn);
  // A connection that saw a full disk, a read-only file or an I/O error, or that could not
  // end its transaction, is replaced before the next Write rather than trusted again.
  if (writer_->broken() || writer_->in_transaction()) writer_.reset();
  return s;
}

Status SqliteStore::BackupTo(const std::string& path) {
  return WithReader(*readers_, [&](Database& db) { return BackupDatabase(db, path); });
}

Status SqliteStore::IntegrityCheck() {
  return WithReader(*readers_, [&](Database& db) { return CheckIntegrity(db); });
}

Result<std::vector<std::string>> SqliteStore::PragmaOnEveryConnection(std::string_view pragma) {
  std::vector<std::string> values;
  {
    std::lock_guard lock(write_mu_);
    if (writer_ != nullptr) {
      ESCROW_ASSIGN_OR_RETURN(std::string value, writer_->Pragma(pragma));
      values.push_back(std::move(value));
    }
  }
  // Hold every lease at once, so that each connection is asked exactly once.
  std::vector<ConnectionPool::Lease> leases;
  for (int i = 0; i < readers_->size(); ++i) {
    ESCROW_ASSIGN_OR_RETURN(ConnectionPool::Lease lease, readers_->Borrow());
    ESCROW_ASSIGN_OR_RETURN(std::string value, lease->Pragma(pragma));
    values.push_back(std::move(value));
    leases.push_back(std::move(lease));
  }
  return values;
}

Status SqliteStore::RunOnWriterForTesting(std::string_view sql) {
  std::lock_guard lock(write_mu_);
  if (writer_ == nullptr) return Status::Unavailable("writer is closed");
  return writer_->RunScript("test statement", sql);
}

}  // namespace escrow::storage
