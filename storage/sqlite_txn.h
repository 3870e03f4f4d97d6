#pragma once

#include <functional>

#include "storage/sqlite_access_requests.h"
#include "storage/sqlite_audit_checkpoints.h"
#include "storage/sqlite_audit_records.h"
#include "storage/sqlite_device_states.h"
#include "storage/sqlite_devices.h"
#include "storage/sqlite_escrow_certs.h"
#include "storage/sqlite_events.h"
#include "storage/sqlite_key_versions.h"
#include "storage/sqlite_limits.h"
#include "storage/sqlite_meta_values.h"
#include "storage/sqlite_txn_context.h"
#include "storage/txn.h"

namespace escrow::storage {

class Database;

// The narrow stores of one SQLite transaction, all on its one context.
struct SqliteStores {
  explicit SqliteStores(SqliteTxnContext& ctx)
      : devices(ctx),
        versions(ctx),
        audit(ctx),
        limits(ctx),
        meta(ctx),
        states(ctx),
        escrow_certs(ctx),
        access_requests(ctx),
        events(ctx),
        audit_checkpoints(ctx) {}
  SqliteDevices devices;
  SqliteKeyVersions versions;
  SqliteAuditRecords audit;
  SqliteLimits limits;
  SqliteMetaValues meta;
  SqliteDeviceStates states;
  SqliteEscrowCerts escrow_certs;
  SqliteAccessRequests access_requests;
  SqliteEvents events;
  SqliteAuditCheckpoints audit_checkpoints;
};

// ReadTxn on a pooled read connection inside the BEGIN (deferred) that Store::Read opened:
// one snapshot for all its reads (private to storage/). Not thread-safe.
class SqliteReadTxn final : public ReadTxn {
 public:
  explicit SqliteReadTxn(Database& db) : ctx_(db), stores_(ctx_) {}

  DeviceReader& devices() override { return stores_.devices; }
  KeyVersionReader& versions() override { return stores_.versions; }
  AuditReader& audit() override { return stores_.audit; }
  LimitReader& limits() override { return stores_.limits; }
  MetaReader& meta() override { return stores_.meta; }
  DeviceStateReader& states() override { return stores_.states; }
  EscrowCertReader& escrow_certs() override { return stores_.escrow_certs; }
  AccessRequestReader& access_requests() override { return stores_.access_requests; }
  EventReader& events() override { return stores_.events; }
  AuditCheckpointReader& audit_checkpoints() override { return stores_.audit_checkpoints; }

  // OK, or the first error that ended the transaction.
  const Status& poison() const { return ctx_.poison(); }

 private:
  SqliteTxnContext ctx_;
  SqliteStores stores_;
};

// WriteTxn on the writer connection, inside the BEGIN IMMEDIATE that Store::Write opened
// (private to storage/). Savepoints nest for Isolated. Not thread-safe: used only by the
// thread running Store::Write.
class SqliteWriteTxn final : public WriteTxn {
 public:
  explicit SqliteWriteTxn(Database& db) : ctx_(db), stores_(ctx_) {}

  DeviceWriter& devices() override { return stores_.devices; }
  KeyVersionWriter& versions() override { return stores_.versions; }
  AuditWriter& audit() override { return stores_.audit; }
  LimitWriter& limits() override { return stores_.limits; }
  MetaWriter& meta() override { return stores_.meta; }
  DeviceStateWriter& states() override { return stores_.states; }
  EscrowCertWriter& escrow_certs() override { return stores_.escrow_certs; }
  AccessRequestWriter& access_requests() override { return stores_.access_requests; }
  EventWriter& events() override { return stores_.events; }
  AuditCheckpointWriter& audit_checkpoints() override { return stores_.audit_checkpoints; }
  Status Isolated(const std::function<Status(WriteTxn&)>& fn) override;

  // OK, or the first error that made the transaction unfit to commit.
  const Status& poison() const { return ctx_.poison(); }

 private:
  SqliteTxnContext ctx_;
  SqliteStores stores_;
  int depth_ = 0;  // open savepoints, for their names
};

}  // namespace escrow::storage
