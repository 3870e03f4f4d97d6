#include "tests/fakes/fake_store.h"

#include <utility>

#include "storage/migrations.h"
#include "storage/writing_thread_mark.h"

namespace escrow::testing {
namespace {

class FakeReadTxn final : public storage::ReadTxn {
 public:
  explicit FakeReadTxn(FakeState& state) : tables_(state) {}
  storage::DeviceReader& devices() override { return tables_.devices; }
  storage::KeyVersionReader& versions() override { return tables_.versions; }
  storage::AuditReader& audit() override { return tables_.audit; }
  storage::LimitReader& limits() override { return tables_.limits; }
  storage::MetaReader& meta() override { return tables_.meta; }
  storage::DeviceStateReader& states() override { return tables_.states; }
  storage::EscrowCertReader& escrow_certs() override { return tables_.escrow_certs; }
  storage::AccessRequestReader& access_requests() override { return tables_.access_requests; }
  storage::EventReader& events() override { return tables_.events; }
  storage::AuditCheckpointReader& audit_checkpoints() override { return tables_.audit_checkpoints; }

 private:
  FakeTables tables_;
};

class FakeWriteTxn final : public storage::WriteTxn {
 public:
  explicit FakeWriteTxn(FakeState& state) : state_(state), tables_(state) {}
  storage::DeviceWriter& devices() override { return tables_.devices; }
  storage::KeyVersionWriter& versions() override { return tables_.versions; }
  storage::AuditWriter& audit() override { return tables_.audit; }
  storage::LimitWriter& limits() override { return tables_.limits; }
  storage::MetaWriter& meta() override { return tables_.meta; }
  storage::DeviceStateWriter& states() override { return tables_.states; }
  storage::EscrowCertWriter& escrow_certs() override { return tables_.escrow_certs; }
  storage::AccessRequestWriter& access_requests() override { return tables_.access_requests; }
  storage::EventWriter& events() override { return tables_.events; }
  storage::AuditCheckpointWriter& audit_checkpoints() override { return tables_.audit_checkpoints; }

  // A savepoint is a copy of the state, put back if `fn` fails.
  Status Isolated(const std::function<Status(storage::WriteTxn&)>& fn) override {
    FakeState saved = state_;
    Status s = fn(*this);
    if (!s.ok()) state_ = std::move(saved);
    return s;
  }

 private:
  FakeState& state_;
  FakeTables tables_;
};

}  // namespace

int FakeStore::schema_version() const { return storage::LatestSchemaVersion(); }

std::shared_ptr<FakeState> FakeStore::Snapshot() const {
  std::lock_guard lock(mu_);
  return committed_;
}

Status FakeStore::Read(const std::function<Status(storage::ReadTxn&)>& fn) {
  // Holding the snapshot keeps it alive and unchanged for the whole transaction.
  std::shared_ptr<FakeState> snapshot = Snapshot();
  FakeReadTxn txn(*snapshot);
  return fn(txn);
}

Status FakeStore::Write(const std::function<Status(storage::WriteTxn&)>& fn) {
  if (writing_thread_.load() == std::this_thread::get_id()) {
    return Status::Internal("Store::Write called from inside a Write callback");
  }
  std::lock_guard write_lock(write_mu_);
  storage::WritingThreadMark mark(writing_thread_);
  auto working = std::make_shared<FakeState>(*Snapshot());
  FakeWriteTxn txn(*working);
  Status s = fn(txn);
  if (!s.ok()) return s;  // the copy is dropped: nothing was written
  std::lock_guard lock(mu_);
  committed_ = std::move(working);
  return Status::Ok();
}

Status FakeStore::BackupTo(const std::string& path) {
  return Status::FailedPrecondition("an in-memory store has no file to copy to " + path);
}

}  // namespace escrow::testing
