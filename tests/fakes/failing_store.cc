#include "tests/fakes/failing_store.h"

#include "base/check.h"

namespace escrow::testing {
namespace {

using storage::AuditRow;
using storage::DeviceRow;
using storage::KeyVersionRow;
using storage::QuotaWindow;

bool EndsTransaction(const Status& s) {
  return s.code() == Code::kUnavailable || s.code() == Code::kDataLoss ||
         s.code() == Code::kInternal;
}

// One wrapped transaction's health, shared by its stores and its savepoints.
class TxnState {
 public:
  explicit TxnState(FailingStore& owner) : owner_(owner) {}

  // Runs `fn` (the inner store's call) unless the transaction is poisoned or `op` is to fail.
  template <class Fn>
  auto Call(StoreOp op, Fn&& fn) -> decltype(fn()) {
    if (!poison_.ok()) return poison_;
    if (Status injected = owner_.Attempt(op); !injected.ok()) {
      if (EndsTransaction(injected)) poison_ = injected;
      return injected;
    }
    return fn();
  }
  const Status& poison() const { return poison_; }

 private:
  FailingStore& owner_;
  Status poison_;
};

// Each wrapper holds the inner reader and, in a write transaction, the inner writer (the
// write methods are reachable only there).
class FailingDevices final : public storage::DeviceWriter {
 public:
  FailingDevices(TxnState& st, storage::DeviceReader& r, storage::DeviceWriter* w)
      : st_(st), r_(r), w_(w) {}
  Result<std::optional<DeviceRow>> Get(std::string_view id) override {
    return st_.Call(StoreOp::kDeviceGet, [&] { return r_.Get(id); });
  }
  Result<std::vector<DeviceRow>> ListByOwner(std::string_view owner,
                                             std::optional<std::string_view> after,
                                             std::size_t limit) override {
    return st_.Call(StoreOp::kDeviceList, [&] { return r_.ListByOwner(owner, after, limit); });
  }
  Result<std::vector<DeviceRow>> ListBySerial(std::string_view serial,
                                              std::optional<std::string_view> after,
                                              std::size_t limit) override {
    return st_.Call(StoreOp::kDeviceList, [&] { return r_.ListBySerial(serial, after, limit); });
  }
  Result<std::vector<DeviceRow>> ListByKeyId(std::string_view key_id, bool prefix,
                                             std::optional<std::string_view> owner,
                                             std::optional<std::string_view> after,
                                             std::size_t limit) override {
    return st_.Call(StoreOp::kDeviceList,
                    [&] { return r_.ListByKeyId(key_id, prefix, owner, after, limit); });
  }
  Result<std::vector<DeviceRow>> ListAll(std::size_t limit) override {
    return st_.Call(StoreOp::kDeviceList, [&] { return r_.ListAll(limit); });
  }
  Result<std::vector<DeviceRow>> ListRotationOverdue(std::int64_t since_ms,
                                                     std::optional<std::string_view> after,
                                                     std::size_t limit) override {
    return st_.Call(StoreOp::kDeviceList,
                    [&] { return r_.ListRotationOverdue(since_ms, after, limit); });
  }
  Result<std::int64_t> CountRotationOverdue(std::int64_t since_ms) override {
    return st_.Call(StoreOp::kDeviceList, [&] { return r_.CountRotationOverdue(since_ms); });
  }
  Result<std::vector<DeviceRow>> ListOverdueUnnoted(std::int64_t since_ms,
                                                    std::size_t limit) override {
    return st_.Call(StoreOp::kDeviceList, [&] { return r_.ListOverdueUnnoted(since_ms, limit); });
  }
  Status Upsert(const DeviceRow& row) override {
    return st_.Call(StoreOp::kDeviceUpsert, [&] { return w_->Upsert(row); });
  }
  Status SetRotationPending(std::string_view id, bool pending, std::int64_t now_ms) override {
    return st_.Call(StoreOp::kDeviceSetRotationPending,
                    [&] { return w_->SetRotationPending(id, pending, now_ms); });
  }
  Status NoteRotationOverdue(std::string_view id, std::int64_t requested_ms) override {
    return st_.Call(StoreOp::kDeviceSetRotationPending,
                    [&] { return w_->NoteRotationOverdue(id, requested_ms); });
  }
  Status SetCheckin(std::string_view id, std::int64_t when_ms) override {
    return st_.Call(StoreOp::kDeviceSetCheckin, [&] { return w_->SetCheckin(id, when_ms); });
  }

 private:
  TxnState& st_;
  storage::DeviceReader& r_;
  storage::DeviceWriter* w_;
};

class FailingKeyVersions final : public storage::KeyVersionWriter {
 public:
  FailingKeyVersions(TxnState& st, storage::KeyVersionReader& r, storage::KeyVersionWriter* w)
      : st_(st), r_(r), w_(w) {}
  Result<std::optional<KeyVersionRow>> Get(std::string_view id, std::uint32_t v) override {
    return st_.Call(StoreOp::kVersionGet, [&] { return r_.Get(id, v); });
  }
  Result<std::vector<KeyVersionRow>> List(std::string_view id) override {
    return st_.Call(StoreOp::kVersionList, [&] { return r_.List(id); });
  }
  Result<std::optional<KeyVersionRow>> Current(const DeviceRow& device) override {
    return st_.Call(StoreOp::kVersionCurrent, [&] { return r_.Current(device); });
  }
  Result<std::uint32_t> LatestNumber(std::string_view id) override {
    return st_.Call(StoreOp::kVersionLatestNumber, [&] { return r_.LatestNumber(id); });
  }
  Result<std::vector<KeyVersionRow>> ListBurned(std::string_view id) override {
    return st_.Call(StoreOp::kVersionList, [&] { return r_.ListBurned(id); });
  }
  Result<std::vector<KeyVersionRow>> ListSealedUnder(
      std::uint32_t mkv, std::size_t limit,
      const std::optional<storage::KeyVersionKey>& after) override {
    return st_.Call(StoreOp::kVersionList, [&] { return r_.ListSealedUnder(mkv, limit, after); });
  }
  Result<std::vector<KeyVersionRow>> ListUnfingerprinted(
      std::size_t limit, const std::optional<storage::KeyVersionKey>& after) override {
    return st_.Call(StoreOp::kVersionList, [&] { return r_.ListUnfingerprinted(limit, after); });
  }
  Result<std::vector<std::pair<std::uint32_t, std::int64_t>>> CountByMasterKey() override {
    return st_.Call(StoreOp::kVersionCount, [&] { return r_.CountByMasterKey(); });
  }
  Status Insert(const KeyVersionRow& row) override {
    return st_.Call(StoreOp::kVersionInsert, [&] { return w_->Insert(row); });
  }
  Status SetState(std::string_view id, std::uint32_t v, storage::VersionState s) override {
    return st_.Call(StoreOp::kVersionSetState, [&] { return w_->SetState(id, v, s); });
  }
  Status SetBurned(std::string_view id, std::uint32_t v) override {
    return st_.Call(StoreOp::kVersionSetBurned, [&] { return w_->SetBurned(id, v); });
  }
  Status SupersedeActive(std::string_view id) override {
    return st_.Call(StoreOp::kVersionSupersedeActive, [&] { return w_->SupersedeActive(id); });
  }
  Status BurnActive(std::string_view id) override {
    return st_.Call(StoreOp::kVersionBurnActive, [&] { return w_->BurnActive(id); });
  }
  Status SetFingerprint(std::string_view id, std::uint32_t v, const Bytes& fp,
                        std::uint32_t key_version) override {
    return st_.Call(StoreOp::kVersionSetFingerprint,
                    [&] { return w_->SetFingerprint(id, v, fp, key_version); });
  }
  Status SetVerified(std::string_view id, std::uint32_t v,
                     std::optional<std::int64_t> verified_ms) override {
    return st_.Call(StoreOp::kVersionSetVerified,
                    [&] { return w_->SetVerified(id, v, verified_ms); });
  }
  Status ReplaceSealed(std::string_view id, std::uint32_t v, std::uint32_t from, std::uint32_t to,
                       const Bytes& iv, const Bytes& ct, const Bytes& tag) override {
    return st_.Call(StoreOp::kVersionReplaceSealed,
                    [&] { return w_->ReplaceSealed(id, v, from, to, iv, ct, tag); });
  }
  Status Destroy(std::string_view id, std::uint32_t v) override {
    return st_.Call(StoreOp::kVersionDestroy, [&] { return w_->Destroy(id, v); });
  }

 private:
  TxnState& st_;
  storage::KeyVersionReader& r_;
  storage::KeyVersionWriter* w_;
};

class FailingAuditRecords final : public storage::AuditWriter {
 public:
  FailingAuditRecords(TxnState& st, storage::AuditReader& r, storage::AuditWriter* w)
      : st_(st), r_(r), w_(w) {}
  Result<std::vector<AuditRow>> List(std::uint64_t after, std::size_t limit,
                                     std::optional<std::string_view> device_id) override {
    return st_.Call(StoreOp::kAuditList, [&] { return r_.List(after, limit, device_id); });
  }
  Result<std::optional<AuditRow>> Last() override {
    return st_.Call(StoreOp::kAuditLast, [&] { return r_.Last(); });
  }
  Result<std::optional<AuditRow>> Get(std::uint64_t seq) override {
    return st_.Call(StoreOp::kAuditGet, [&] { return r_.Get(seq); });
  }
  Result<std::optional<std::uint64_t>> NewestStateChange(std::string_view id) override {
    return st_.Call(StoreOp::kAuditNewestStateChange, [&] { return r_.NewestStateChange(id); });
  }
  Result<std::vector<AuditRow>> ListReleases(std::string_view id,
                                             std::optional<std::uint64_t> before,
                                             std::size_t limit) override {
    return st_.Call(StoreOp::kAuditListReleases,
                    [&] { return r_.ListReleases(id, before, limit); });
  }
  Status Append(const AuditRow& row) override {
    return st_.Call(StoreOp::kAuditAppend, [&] { return w_->Append(row); });
  }

 private:
  TxnState& st_;
  storage::AuditReader& r_;
  storage::AuditWriter* w_;
};

class FailingLimits final : public storage::LimitWriter {
 public:
  FailingLimits(TxnState& st, storage::LimitReader& r, storage::LimitWriter* w)
      : st_(st), r_(r), w_(w) {}
  Result<QuotaWindow> GetQuotaWindow(std::string_view principal, std::int64_t since) override {
    return st_.Call(StoreOp::kQuotaGet, [&] { return r_.GetQuotaWindow(principal, since); });
  }
  Result<QuotaWindow> AddQuotaEvent(std::string_view principal, std::int64_t at,
                                    std::int64_t since) override {
    return st_.Call(StoreOp::kQuotaAdd, [&] { return w_->AddQuotaEvent(principal, at, since); });
  }

 private:
  TxnState& st_;
  storage::LimitReader& r_;
  storage::LimitWriter* w_;
};

class FailingMetaValues final : public storage::MetaWriter {
 public:
  FailingMetaValues(TxnState& st, storage::MetaReader& r, storage::MetaWriter* w)
      : st_(st), r_(r), w_(w) {}
  Result<std::optional<std::string>> Get(std::string_view key) override {
    return st_.Call(StoreOp::kMetaGet, [&] { return r_.Get(key); });
  }
  Status Set(std::string_view key, std::string_view value) override {
    return st_.Call(StoreOp::kMetaSet, [&] { return w_->Set(key, value); });
  }

 private:
  TxnState& st_;
  storage::MetaReader& r_;
  storage::MetaWriter* w_;
};

class FailingDeviceStates final : public storage::DeviceStateWriter {
 public:
  FailingDeviceStates(TxnState& st, storage::DeviceStateReader& r, storage::DeviceStateWriter* w)
      : st_(st), r_(r), w_(w) {}
  Result<std::optional<storage::DeviceStateRow>> Get(std::string_view id) override {
    return st_.Call(StoreOp::kStateGet, [&] { return r_.Get(id); });
  }
  Result<std::vector<storage::DeviceStateRow>> List(
      std::size_t limit, std::optional<std::string_view> after) override {
    return st_.Call(StoreOp::kStateList, [&] { return r_.List(limit, after); });
  }
  Status Put(const storage::DeviceStateRow& row) override {
    return st_.Call(StoreOp::kStatePut, [&] { return w_->Put(row); });
  }

 private:
  TxnState& st_;
  storage::DeviceStateReader& r_;
  storage::DeviceStateWriter* w_;
};

class FailingEscrowCerts final : public storage::EscrowCertWriter {
 public:
  FailingEscrowCerts(TxnState& st, storage::EscrowCertReader& r, storage::EscrowCertWriter* w)
      : st_(st), r_(r), w_(w) {}
  Result<std::optional<storage::EscrowCaRow>> GetCa(std::uint32_t v) override {
    return st_.Call(StoreOp::kEscrowCertRead, [&] { return r_.GetCa(v); });
  }
  Result<std::optional<storage::EscrowCaRow>> NewestCa() override {
    return st_.Call(StoreOp::kEscrowCertRead, [&] { return r_.NewestCa(); });
  }
  Result<std::optional<storage::EscrowCertRow>> Get(std::string_view serial) override {
    return st_.Call(StoreOp::kEscrowCertRead, [&] { return r_.Get(serial); });
  }
  Result<std::optional<storage::EscrowCertRow>> Current() override {
    return st_.Call(StoreOp::kEscrowCertRead, [&] { return r_.Current(); });
  }
  Result<std::vector<storage::EscrowCertRow>> ListFleet() override {
    return st_.Call(StoreOp::kEscrowCertRead, [&] { return r_.ListFleet(); });
  }
  Result<std::optional<storage::EscrowCertRow>> ForDevice(std::string_view id,
                                                          std::uint32_t v) override {
    return st_.Call(StoreOp::kEscrowCertRead, [&] { return r_.ForDevice(id, v); });
  }
  Result<std::uint32_t> LatestKeyVersion() override {
    return st_.Call(StoreOp::kEscrowCertRead, [&] { return r_.LatestKeyVersion(); });
  }
  Result<std::optional<std::string>> EnvelopeDevice(std::span<const std::uint8_t> d) override {
    return st_.Call(StoreOp::kEscrowCertRead, [&] { return r_.EnvelopeDevice(d); });
  }
  Status RecordEnvelope(std::span<const std::uint8_t> d, std::string_view id,
                        std::int64_t ms) override {
    return st_.Call(StoreOp::kEscrowCertWrite, [&] { return w_->RecordEnvelope(d, id, ms); });
  }
  Status PutCa(const storage::EscrowCaRow& row) override {
    return st_.Call(StoreOp::kEscrowCertWrite, [&] { return w_->PutCa(row); });
  }
  Status Insert(const storage::EscrowCertRow& row) override {
    return st_.Call(StoreOp::kEscrowCertWrite, [&] { return w_->Insert(row); });
  }
  Status MakeCurrent(std::string_view serial) override {
    return st_.Call(StoreOp::kEscrowCertWrite, [&] { return w_->MakeCurrent(serial); });
  }
  Status Retire(std::string_view serial) override {
    return st_.Call(StoreOp::kEscrowCertWrite, [&] { return w_->Retire(serial); });
  }

 private:
  TxnState& st_;
  storage::EscrowCertReader& r_;
  storage::EscrowCertWriter* w_;
};

class FailingAccessRequests final : public storage::AccessRequestWriter {
 public:
  FailingAccessRequests(TxnState& st, storage::AccessRequestReader& r,
                        storage::AccessRequestWriter* w)
      : st_(st), r_(r), w_(w) {}
  Result<std::optional<storage::AccessRequestRow>> Get(std::string_view id) override {
    return st_.Call(StoreOp::kAccessRequestRead, [&] { return r_.Get(id); });
  }
  Result<std::vector<storage::AccessRequestRow>> List(
      std::optional<storage::AccessRequestState> state, std::optional<std::string_view> requester,
      std::int64_t now_ms, std::uint64_t after, std::size_t limit) override {
    return st_.Call(StoreOp::kAccessRequestRead,
                    [&] { return r_.List(state, requester, now_ms, after, limit); });
  }
  Result<std::uint64_t> Insert(const storage::AccessRequestRow& row) override {
    return st_.Call(StoreOp::kAccessRequestWrite, [&] { return w_->Insert(row); });
  }
  Result<bool> Decide(std::string_view id, const storage::AccessDecision& decision) override {
    return st_.Call(StoreOp::kAccessRequestWrite, [&] { return w_->Decide(id, decision); });
  }
  Result<bool> Use(const storage::AccessRequestRow& approved, std::int64_t now_ms) override {
    return st_.Call(StoreOp::kAccessRequestWrite, [&] { return w_->Use(approved, now_ms); });
  }

 private:
  TxnState& st_;
  storage::AccessRequestReader& r_;
  storage::AccessRequestWriter* w_;
};

class FailingEvents final : public storage::EventWriter {
 public:
  FailingEvents(TxnState& st, storage::EventReader& r, storage::EventWriter* w)
      : st_(st), r_(r), w_(w) {}
  Result<std::vector<storage::EventRow>> List(std::uint64_t after, std::size_t limit) override {
    return st_.Call(StoreOp::kEventRead, [&] { return r_.List(after, limit); });
  }
  Result<std::optional<std::uint64_t>> Cursor(std::string_view client) override {
    return st_.Call(StoreOp::kEventRead, [&] { return r_.Cursor(client); });
  }
  Result<std::optional<std::uint64_t>> OldestCursor() override {
    return st_.Call(StoreOp::kEventRead, [&] { return r_.OldestCursor(); });
  }
  Status Insert(const storage::EventRow& row) override {
    return st_.Call(StoreOp::kEventWrite, [&] { return w_->Insert(row); });
  }
  Result<std::size_t> DeleteBefore(std::int64_t before_ms, std::size_t limit) override {
    return st_.Call(StoreOp::kEventWrite, [&] { return w_->DeleteBefore(before_ms, limit); });
  }
  Result<bool> AdvanceCursor(std::string_view client, std::uint64_t after) override {
    return st_.Call(StoreOp::kEventWrite, [&] { return w_->AdvanceCursor(client, after); });
  }

 private:
  TxnState& st_;
  storage::EventReader& r_;
  storage::EventWriter* w_;
};

class FailingAuditCheckpoints final : public storage::AuditCheckpointWriter {
 public:
  FailingAuditCheckpoints(TxnState& st, storage::AuditCheckpointReader& r,
                          storage::AuditCheckpointWriter* w)
      : st_(st), r_(r), w_(w) {}
  Result<std::vector<storage::AuditCheckpointRow>> List(std::uint64_t after,
                                                        std::size_t limit) override {
    return st_.Call(StoreOp::kCheckpointRead, [&] { return r_.List(after, limit); });
  }
  Result<std::vector<storage::AuditSigningKeyRow>> SigningKeys() override {
    return st_.Call(StoreOp::kCheckpointRead, [&] { return r_.SigningKeys(); });
  }
  Status Append(const storage::AuditCheckpointRow& row) override {
    return st_.Call(StoreOp::kCheckpointWrite, [&] { return w_->Append(row); });
  }
  Status AddSigningKey(const storage::AuditSigningKeyRow& row) override {
    return st_.Call(StoreOp::kCheckpointWrite, [&] { return w_->AddSigningKey(row); });
  }

 private:
  TxnState& st_;
  storage::AuditCheckpointReader& r_;
  storage::AuditCheckpointWriter* w_;
};

class FailingReadTxn final : public storage::ReadTxn {
 public:
  FailingReadTxn(TxnState& st, storage::ReadTxn& inner)
      : devices_(st, inner.devices(), nullptr),
        versions_(st, inner.versions(), nullptr),
        audit_(st, inner.audit(), nullptr),
        limits_(st, inner.limits(), nullptr),
        meta_(st, inner.meta(), nullptr),
        states_(st, inner.states(), nullptr),
        escrow_certs_(st, inner.escrow_certs(), nullptr),
        access_requests_(st, inner.access_requests(), nullptr),
        events_(st, inner.events(), nullptr),
        audit_checkpoints_(st, inner.audit_checkpoints(), nullptr) {}
  storage::DeviceReader& devices() override { return devices_; }
  storage::KeyVersionReader& versions() override { return versions_; }
  storage::AuditReader& audit() override { return audit_; }
  storage::LimitReader& limits() override { return limits_; }
  storage::MetaReader& meta() override { return meta_; }
  storage::DeviceStateReader& states() override { return states_; }
  storage::EscrowCertReader& escrow_certs() override { return escrow_certs_; }
  storage::AccessRequestReader& access_requests() override { return access_requests_; }
  storage::EventReader& events() override { return events_; }
  storage::AuditCheckpointReader& audit_checkpoints() override { return audit_checkpoints_; }

 private:
  FailingDevices devices_;
  FailingKeyVersions versions_;
  FailingAuditRecords audit_;
  FailingLimits limits_;
  FailingMetaValues meta_;
  FailingDeviceStates states_;
  FailingEscrowCerts escrow_certs_;
  FailingAccessRequests access_requests_;
  FailingEvents events_;
  FailingAuditCheckpoints audit_checkpoints_;
};

class FailingWriteTxn final : public storage::WriteTxn {
 public:
  FailingWriteTxn(TxnState& st, storage::WriteTxn& inner)
      : st_(st),
        inner_(inner),
        devices_(st, inner.devices(), &inner.devices()),
        versions_(st, inner.versions(), &inner.versions()),
        audit_(st, inner.audit(), &inner.audit()),
        limits_(st, inner.limits(), &inner.limits()),
        meta_(st, inner.meta(), &inner.meta()),
        states_(st, inner.states(), &inner.states()),
        escrow_certs_(st, inner.escrow_certs(), &inner.escrow_certs()),
        access_requests_(st, inner.access_requests(), &inner.access_requests()),
        events_(st, inner.events(), &inner.events()),
        audit_checkpoints_(st, inner.audit_checkpoints(), &inner.audit_checkpoints()) {}
  storage::DeviceWriter& devices() override { return devices_; }
  storage::KeyVersionWriter& versions() override { return versions_; }
  storage::AuditWriter& audit() override { return audit_; }
  storage::LimitWriter& limits() override { return limits_; }
  storage::MetaWriter& meta() override { return meta_; }
  storage::DeviceStateWriter& states() override { return states_; }
  storage::EscrowCertWriter& escrow_certs() override { return escrow_certs_; }
  storage::AccessRequestWriter& access_requests() override { return access_requests_; }
  storage::EventWriter& events() override { return events_; }
  storage::AuditCheckpointWriter& audit_checkpoints() override { return audit_checkpoints_; }
  Status Isolated(const std::function<Status(storage::WriteTxn&)>& fn) override {
    if (!st_.poison().ok()) return st_.poison();
    return inner_.Isolated([&](storage::WriteTxn& inner) -> Status {
      FailingWriteTxn nested(st_, inner);
      Status s = fn(nested);
      return s.ok() ? st_.poison() : s;
    });
  }

 private:
  TxnState& st_;
  storage::WriteTxn& inner_;
  FailingDevices devices_;
  FailingKeyVersions versions_;
  FailingAuditRecords audit_;
  FailingLimits limits_;
  FailingMetaValues meta_;
  FailingDeviceStates states_;
  FailingEscrowCerts escrow_certs_;
  FailingAccessRequests access_requests_;
  FailingEvents events_;
  FailingAuditCheckpoints audit_checkpoints_;
};

}  // namespace

void FailingStore::FailOn(StoreOp op, Status status) {
  ESCROW_CHECK(!status.ok());
  std::lock_guard lock(mu_);
  failures_[op] = std::move(status);
}

void FailingStore::Heal(StoreOp op) {
  std::lock_guard lock(mu_);
  failures_.erase(op);
}

int FailingStore::calls(StoreOp op) const {
  std::lock_guard lock(mu_);
  auto it = calls_.find(op);
  return it == calls_.end() ? 0 : it->second;
}

Status FailingStore::Attempt(StoreOp op) {
  std::lock_guard lock(mu_);
  ++calls_[op];
  auto it = failures_.find(op);
  return it == failures_.end() ? Status::Ok() : it->second;
}

Status FailingStore::Read(const std::function<Status(storage::ReadTxn&)>& fn) {
  ESCROW_RETURN_IF_ERROR(Attempt(StoreOp::kRead));
  return inner_.Read([&](storage::ReadTxn& inner) -> Status {
    TxnState st(*this);
    FailingReadTxn txn(st, inner);
    Status s = fn(txn);
    return s.ok() ? st.poison() : s;
  });
}

Status FailingStore::Write(const std::function<Status(storage::WriteTxn&)>& fn) {
  ESCROW_RETURN_IF_ERROR(Attempt(StoreOp::kWrite));
  return inner_.Write([&](storage::WriteTxn& inner) -> Status {
    TxnState st(*this);
    FailingWriteTxn txn(st, inner);
    Status s = fn(txn);
    // Fail closed, as SQLite does: a callback that ignored a fatal error commits nothing.
    return s.ok() ? st.poison() : s;
  });
}

}  // namespace escrow::testing
