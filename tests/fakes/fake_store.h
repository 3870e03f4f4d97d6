#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "storage/store.h"
#include "tests/fakes/fake_tables.h"

namespace escrow::testing {

// An in-memory storage::Store with the semantics of the SQLite one (tests/storage/conformance/
// holds both to them): a Read sees one committed snapshot; a Write works on a copy that is
// published only if its callback returns OK, so a failure leaves nothing behind; Isolated
// undoes only its own part; writes are serialised and a Write inside a Write is kInternal.
// Never fails on its own (wrap it in a FailingStore for that). Thread-safe.
class FakeStore final : public storage::Store {
 public:
  FakeStore() = default;
  FakeStore(const FakeStore&) = delete;  // one store, one history
  FakeStore& operator=(const FakeStore&) = delete;

  int schema_version() const override;
  Status Read(const std::function<Status(storage::ReadTxn&)>& fn) override;
  Status Write(const std::function<Status(storage::WriteTxn&)>& fn) override;
  // kFailedPrecondition: there is no file to copy.
  Status BackupTo(const std::string& path) override;
  Status IntegrityCheck() override { return Status::Ok(); }

 private:
  std::shared_ptr<FakeState> Snapshot() const;

  mutable std::mutex mu_;
  // The committed state. Never changed once published: a Write publishes a new one.
  std::shared_ptr<FakeState> committed_ = std::make_shared<FakeState>();  // guarded by mu_

  std::mutex write_mu_;                            // serialises writes
  std::atomic<std::thread::id> writing_thread_{};  // to refuse a Write inside a Write
};

}  // namespace escrow::testing
