#pragma once

#include <map>
#include <mutex>
#include <string>

#include "storage/store.h"

namespace escrow::testing {

// The operations a FailingStore can fail: starting a transaction, or one method of a narrow
// store (kVersionList covers List, ListBurned, ListSealedUnder and ListUnfingerprinted;
// kDeviceList the four device listings).
enum class StoreOp {
  kRead,
  kWrite,
  kDeviceGet,
  kDeviceList,
  kDeviceUpsert,
  kDeviceSetRotationPending,
  kDeviceSetCheckin,
  kVersionGet,
  kVersionList,
  kVersionCurrent,
  kVersionLatestNumber,
  kVersionCount,
  kVersionInsert,
  kVersionSetState,
  kVersionSetBurned,
  kVersionSupersedeActive,
  kVersionBurnActive,
  kVersionReplaceSealed,
  kVersionSetFingerprint,
  kVersionSetVerified,
  kVersionDestroy,
  kAuditList,
  kAuditLast,
  kAuditGet,
  kAuditNewestStateChange,
  kAuditListReleases,
  kAuditAppend,
  kStateGet,
  kStateList,
  kStatePut,
  kEscrowCertRead,   // every EscrowCertReader method
  kEscrowCertWrite,  // PutCa, Insert, MakeCurrent, Retire, RecordEnvelope
  kAccessRequestRead,   // Get, List
  kAccessRequestWrite,  // Insert, Decide, Use
  kEventRead,           // List, Cursor, OldestCursor
  kEventWrite,          // Insert, DeleteBefore, AdvanceCursor
  kCheckpointRead,      // List, SigningKeys
  kCheckpointWrite,     // Append, AddSigningKey
  kQuotaGet,
  kQuotaAdd,
  kMetaGet,
  kMetaSet,
};

// Wraps a real or fake Store and fails the chosen operations with a chosen Status, as Tink's
// failing_aead stands beside Aead: fail-closed paths are proven in unit tests with it. A
// failure that would end a real transaction (kUnavailable, kDataLoss, kInternal) poisons the
// wrapped transaction as SQLite's does: later calls in it repeat the error and the
// transaction ends in it (rolled back) even if its callback returned OK. Thread-safe.
class FailingStore final : public storage::Store {
 public:
  explicit FailingStore(storage::Store& inner) : inner_(inner) {}
  FailingStore(const FailingStore&) = delete;  // the failures are this one's
  FailingStore& operator=(const FailingStore&) = delete;

  // From now on `op` answers `status` without reaching the inner store.
  // REQUIRES: !status.ok().
  void FailOn(StoreOp op, Status status);
  // `op` reaches the inner store again.
  void Heal(StoreOp op);
  // How often `op` was attempted, failed attempts included.
  int calls(StoreOp op) const;

  int schema_version() const override { return inner_.schema_version(); }
  Status Read(const std::function<Status(storage::ReadTxn&)>& fn) override;
  Status Write(const std::function<Status(storage::WriteTxn&)>& fn) override;
  Status BackupTo(const std::string& path) override { return inner_.BackupTo(path); }
  Status IntegrityCheck() override { return inner_.IntegrityCheck(); }

  // Counts the attempt; the injected failure of `op`, if any, else OK. For the wrappers.
  Status Attempt(StoreOp op);

 private:
  storage::Store& inner_;
  mutable std::mutex mu_;
  std::map<StoreOp, Status> failures_;  // guarded by mu_
  std::map<StoreOp, int> calls_;        // guarded by mu_
};

}  // namespace escrow::testing
