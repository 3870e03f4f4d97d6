#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "storage/pg_connection.h"
#include "storage/pg_connection_pool.h"
#include "storage/store.h"

namespace escrow::storage {

// Store on a PostgreSQL database (private to storage/; callers use Store::Open with a
// `url`). Several vaultd nodes may share the database.
//
// Isolation and locking (why these levels):
// - Write: BEGIN ISOLATION LEVEL READ COMMITTED, then SELECT ... FOR UPDATE of the one
//   audit_head row. Every write on every node takes that lock first, so writes are
//   serialised across nodes as BEGIN IMMEDIATE serialises them on one SQLite file: the audit
//   chain is read and advanced by one writer at a time and never forks, and every check a
//   concurrent write could falsify (latest version, burned set, quota, a request's use) is
//   re-read inside the transaction that holds the lock. READ COMMITTED, not REPEATABLE READ:
//   each statement then sees everything committed before it, including the previous lock
//   holder's commit (a REPEATABLE READ snapshot could predate it and would fail with a
//   serialization error on the lock instead). One writer connection per node behind a mutex.
// - Read: BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY on a pooled connection: all of one
//   request's reads see one snapshot, as a SQLite read transaction does. Read-only snapshots
//   never raise serialization failures.
// - Commit is durable: every session runs with synchronous_commit on (or remote_apply).
// A connection lost mid-transaction answers kUnavailable; the next Write or Read opens a
// fresh one, so service resumes once the server is back. Thread-safe.
//
// TODO(issue 18): what this foundation leaves for the next steps:
// - vault/config.cc's `[database] url` and `password_file`, and vaultd_main/vaultctl passing
//   them into StoreOptions (Store::Open already selects this store by `url`).
// - Group commit per node: vault/'s pipeline groups writes into one Store::Write already;
//   measure it on PostgreSQL (each change costs a SAVEPOINT round trip here: libpq's
//   pipeline mode could send SAVEPOINT, the statement and RELEASE in one).
// - IntegrityCheck with amcheck (bt_index_check) where the extension is installed.
// libpq's connection parameters for options.url (checked by ParsePostgresUrl) with the password
// from options.password_file; kFailedPrecondition if PGPASSWORD is set (private to storage/).
Result<PgConnectOptions> PgConnectOptionsFor(const StoreOptions& options);

class PgStore final : public Store {
 public:
  // As Store::Open; REQUIRES options.url non-empty (it is validated: kInvalidArgument).
  static Result<std::unique_ptr<PgStore>> Open(const StoreOptions& options);

  PgStore(const PgStore&) = delete;  // owns connections
  PgStore& operator=(const PgStore&) = delete;
  PgStore(PgStore&&) = delete;
  PgStore& operator=(PgStore&&) = delete;
  ~PgStore() override = default;

  int schema_version() const override { return schema_version_.load(); }
  Status Read(const std::function<Status(ReadTxn&)>& fn) override;
  Status Write(const std::function<Status(WriteTxn&)>& fn) override;
  // Not available on PostgreSQL: kFailedPrecondition. A consistent online copy of a
  // PostgreSQL vault is the server's business (pg_basebackup, or pg_dump in one snapshot);
  // docs/operations.md is to say how, with the audit head it contains.
  Status BackupTo(const std::string& path) override;
  // The logical checks SQLite's integrity_check has no PostgreSQL counterpart for without
  // the amcheck extension: the audit head row equals the newest record, the sequence has no
  // gap, and the per-master-key counts equal the key versions. kDataLoss naming the first
  // failed check.
  Status IntegrityCheck() override;

 private:
  PgStore(StoreOptions options, PgConnectOptions connect)
      : options_(std::move(options)), connect_(std::move(connect)) {}
  Status WriteLocked(const std::function<Status(WriteTxn&)>& fn);

  const StoreOptions options_;
  const PgConnectOptions connect_;  // holds the password read from password_file
  std::atomic<int> schema_version_{0};

  std::mutex write_mu_;
  std::unique_ptr<PgConnection> writer_;  // guarded by write_mu_; null until reopened
  std::atomic<std::thread::id> writing_thread_{};

  std::unique_ptr<PgConnectionPool> readers_;
};

}  // namespace escrow::storage
