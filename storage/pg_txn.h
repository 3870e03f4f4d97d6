#pragma once

#include <functional>

#include "storage/pg_stores.h"
#include "storage/pg_txn_context.h"
#include "storage/txn.h"

namespace escrow::storage {

// The narrow stores of one PostgreSQL transaction, all on its one context.
struct PgStores {
  explicit PgStores(PgTxnContext& ctx)
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
  PgDevices devices;
  PgKeyVersions versions;
  PgAuditRecords audit;
  PgLimits limits;
  PgMetaValues meta;
  PgDeviceStates states;
  PgEscrowCerts escrow_certs;
  PgAccessRequests access_requests;
  PgEvents events;
  PgAuditCheckpoints audit_checkpoints;
};

// ReadTxn inside the BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY that Store::Read opened:
// one snapshot for all its reads (private to storage/). Not thread-safe.
class PgReadTxn final : public ReadTxn {
 public:
  explicit PgReadTxn(PgConnection& conn) : ctx_(conn), stores_(ctx_) {}

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

  const Status& poison() const { return ctx_.poison(); }

 private:
  PgTxnContext ctx_;
  PgStores stores_;
};

// WriteTxn inside the READ COMMITTED transaction that Store::Write opened and whose first
// statement locked the audit head row (private to storage/). Savepoints nest for Isolated.
// Not thread-safe: used only by the thread running Store::Write.
class PgWriteTxn final : public WriteTxn {
 public:
  explicit PgWriteTxn(PgConnection& conn) : ctx_(conn), stores_(ctx_) {}

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

  const Status& poison() const { return ctx_.poison(); }

 private:
  PgTxnContext ctx_;
  PgStores stores_;
  int depth_ = 0;  // open savepoints, for their names
};

}  // namespace escrow::storage
