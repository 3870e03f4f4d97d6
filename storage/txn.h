#pragma once

#include <functional>

#include "base/result.h"
#include "storage/access_requests.h"
#include "storage/audit_checkpoints.h"
#include "storage/audit_records.h"
#include "storage/device_states.h"
#include "storage/devices.h"
#include "storage/escrow_certs.h"
#include "storage/events.h"
#include "storage/key_versions.h"
#include "storage/limits.h"
#include "storage/meta_values.h"

namespace escrow::storage {

// The narrow stores of one transaction, one per concern. Every method of every store may also
// return kUnavailable (busy, disk full, read-only, I/O) or kDataLoss (a corrupt file, or a
// stored value that cannot be ours, such as an unknown platform). After such an error the
// transaction is spent: later calls repeat it, and Store::Read and Store::Write return it
// even if the callback returned OK.

// One read transaction: every read sees the same committed snapshot. Not thread-safe: used
// only by the thread running Store::Read, and only inside its callback.
class ReadTxn {
 public:
  virtual ~ReadTxn() = default;
  virtual DeviceReader& devices() = 0;
  virtual KeyVersionReader& versions() = 0;
  virtual AuditReader& audit() = 0;
  virtual LimitReader& limits() = 0;
  virtual MetaReader& meta() = 0;
  virtual DeviceStateReader& states() = 0;
  virtual EscrowCertReader& escrow_certs() = 0;
  virtual AccessRequestReader& access_requests() = 0;
  virtual EventReader& events() = 0;
  virtual AuditCheckpointReader& audit_checkpoints() = 0;

 protected:
  // Copied or moved only as a concrete transaction, never sliced through this interface.
  ReadTxn() = default;
  ReadTxn(const ReadTxn&) = default;
  ReadTxn& operator=(const ReadTxn&) = default;
  ReadTxn(ReadTxn&&) = default;
  ReadTxn& operator=(ReadTxn&&) = default;
};

// One write transaction (serialised with every other write). Its stores read inside it and
// see its own uncommitted writes. Row-level errors (kAlreadyExists, kNotFound,
// kInvalidArgument, kFailedPrecondition) leave it usable. Not thread-safe: used only by the
// thread running Store::Write, and only inside its callback.
class WriteTxn {
 public:
  virtual ~WriteTxn() = default;
  virtual DeviceWriter& devices() = 0;
  virtual KeyVersionWriter& versions() = 0;
  virtual AuditWriter& audit() = 0;
  virtual LimitWriter& limits() = 0;
  virtual MetaWriter& meta() = 0;
  virtual DeviceStateWriter& states() = 0;
  virtual EscrowCertWriter& escrow_certs() = 0;
  virtual AccessRequestWriter& access_requests() = 0;
  virtual EventWriter& events() = 0;
  virtual AuditCheckpointWriter& audit_checkpoints() = 0;
  // Runs `fn` inside a savepoint: its changes are kept if it returns OK and undone if not,
  // leaving the rest of the transaction intact. Its Status is returned.
  virtual Status Isolated(const std::function<Status(WriteTxn&)>& fn) = 0;

 protected:
  // Copied or moved only as a concrete transaction, never sliced through this interface.
  WriteTxn() = default;
  WriteTxn(const WriteTxn&) = default;
  WriteTxn& operator=(const WriteTxn&) = default;
  WriteTxn(WriteTxn&&) = default;
  WriteTxn& operator=(WriteTxn&&) = default;
};

}  // namespace escrow::storage
