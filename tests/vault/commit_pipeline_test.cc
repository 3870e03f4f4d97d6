#include "vault/commit_pipeline.h"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

#include <catch2/catch.hpp>

#include "storage/store.h"
#include "tests/vault/vault_fixture.h"

namespace escrow::vault {
namespace {

using testing::VaultFixture;

void Fill(VaultFixture& f, int n) {
  for (int i = 0; i < n; ++i) {
    REQUIRE(f.audit()
                .Append(AuditEvent{"alice", "user", "test.event", "dev-" + std::to_string(i), "ok",
                                   "", "n=" + std::to_string(i), std::nullopt})
                .ok());
  }
}

AuditEvent EventNamed(const std::string& detail) {
  return AuditEvent{"u", "user", "test.event", "", "ok", "", detail, std::nullopt};
}

// A change that writes meta `key` and then fails or succeeds.
CommitPipeline::Change SetMetaChange(std::string key, bool fail) {
  return [key = std::move(key), fail](storage::WriteTxn& txn) -> Status {
    ESCROW_RETURN_IF_ERROR(txn.meta().Set(key, "1"));
    return fail ? Status::FailedPrecondition("refused on purpose") : Status::Ok();
  };
}

bool HasMeta(VaultFixture& f, const std::string& key) {
  Result<std::optional<std::string>> v = storage::ReadValue(f.store(), [&](storage::ReadTxn& rtx) { return rtx.meta().Get(key); });
  return v.ok() && v->has_value();
}

// Holds the leader inside its own change (so inside the write transaction) until released:
// whoever commits meanwhile queues behind it, and the queue's grouping is then known.
class Gate {
 public:
  CommitPipeline::Change Change() {
    return [this](storage::WriteTxn&) -> Status {
      std::unique_lock lock(mu_);
      entered_ = true;
      cv_.notify_all();
      cv_.wait(lock, [&] { return open_; });
      return Status::Ok();
    };
  }
  void WaitEntered() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return entered_; });
  }
  void Open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool entered_ = false;
  bool open_ = false;
};

// Waits (without a deadline of its own: ctest's timeout bounds it) until `n` commits queue.
void WaitQueued(const CommitPipeline& pipeline, std::size_t n) {
  while (pipeline.queued() < n) std::this_thread::yield();
}

TEST_CASE("Concurrent commits are grouped and the chain stays gap-free", "[vault][audit]") {
  VaultFixture f;
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&f, t] {
      for (int i = 0; i < 25; ++i) {
        Status s = f.audit().Append(AuditEvent{"u" + std::to_string(t), "user", "x", "", "ok", "", "", std::nullopt});
        if (!s.ok()) FAIL(s.ToString());
      }
    });
  }
  for (auto& t : threads) t.join();
  Result<AuditVerifyReport> r = f.audit().Verify();
  REQUIRE(r.ok());
  CHECK(r->ok);
  CHECK(r->records == 200);
}

TEST_CASE("A failing change writes neither itself nor its events", "[vault][audit]") {
  VaultFixture f;
  Fill(f, 1);
  Status s = f.audit().Commit(
      [](storage::WriteTxn& txn) -> Status {
        ESCROW_RETURN_IF_ERROR(txn.meta().Set("probe", "1"));
        return Status::FailedPrecondition("no");
      },
      {AuditEvent{"a", "user", "x", "", "ok", "", "", std::nullopt}});
  CHECK(s.code() == Code::kFailedPrecondition);
  CHECK(f.audit().head().seq == 1);
  CHECK_FALSE(storage::ReadValue(f.store(), [&](storage::ReadTxn& rtx) { return rtx.meta().Get("probe"); })->has_value());
}

TEST_CASE("Many threads commit at once: each returns only after its own commit is visible, "
          "failures stay their own, and the sequence is gap-free",
          "[vault][audit][pipeline]") {
  VaultFixture f;
  constexpr int kThreads = 8;
  constexpr int kEach = 30;
  std::atomic<int> not_visible{0};
  std::atomic<int> wrong_status{0};
  std::atomic<int> events_ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        const std::string key = "probe-" + std::to_string(t) + "-" + std::to_string(i);
        const bool fail = i % 5 == 3;
        const int n_events = 1 + i % 2;
        std::vector<AuditEvent> events;
        for (int e = 0; e < n_events; ++e) events.push_back(EventNamed(key));
        Status s = f.audit().Commit(SetMetaChange(key, fail), std::move(events));
        if (fail) {
          if (s.code() != Code::kFailedPrecondition) ++wrong_status;
          if (HasMeta(f, key)) ++not_visible;  // a failed change must leave nothing
          continue;
        }
        if (!s.ok()) {
          ++wrong_status;
          continue;
        }
        // Read on another connection of the pool: only a committed transaction shows.
        if (!HasMeta(f, key)) ++not_visible;
        events_ok += n_events;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(wrong_status == 0);
  CHECK(not_visible == 0);

  Result<std::vector<storage::AuditRow>> rows = storage::ReadValue(f.store(), [&](storage::ReadTxn& rtx) { return rtx.audit().List(0, 10000, std::nullopt); });
  REQUIRE(rows.ok());
  REQUIRE(rows->size() == static_cast<std::size_t>(events_ok.load()));
  for (std::size_t i = 0; i < rows->size(); ++i) CHECK((*rows)[i].seq == i + 1);
  std::set<std::string> details;
  for (const storage::AuditRow& row : *rows) details.insert(row.detail);
  for (const std::string& d : details) CHECK(d.rfind("probe-", 0) == 0);
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 3; i < kEach; i += 5) {
      CHECK(details.count("probe-" + std::to_string(t) + "-" + std::to_string(i)) == 0);
    }
  }
  Result<AuditVerifyReport> r = f.audit().Verify();
  REQUIRE(r.ok());
  CHECK(r->ok);
  CHECK(r->head.seq == rows->size());
  CHECK(f.checkpoints().back().seq == rows->size());
}

TEST_CASE("Commits queued behind a leader go out as one group: one MAC and one checkpoint, "
          "a failing change taking back only itself",
          "[vault][audit][pipeline]") {
  VaultFixture f;
  CommitPipeline& pipeline = f.audit();
  Gate gate;
  std::thread leader([&] { CHECK(pipeline.Commit(gate.Change(), {EventNamed("leader")}).ok()); });
  gate.WaitEntered();
  constexpr int kFollowers = 6;
  std::vector<Status> results(kFollowers);
  std::vector<std::thread> followers;
  for (int i = 0; i < kFollowers; ++i) {
    followers.emplace_back([&, i] {
      const std::string key = "follower-" + std::to_string(i);
      results[static_cast<std::size_t>(i)] =
          pipeline.Commit(SetMetaChange(key, i == 2), {EventNamed(key)});
    });
  }
  WaitQueued(pipeline, 1 + kFollowers);
  const std::size_t checkpoints_before = f.checkpoints().size();
  gate.Open();
  leader.join();
  for (auto& t : followers) t.join();

  for (int i = 0; i < kFollowers; ++i) {
    INFO("follower " << i);
    const Status& s = results[static_cast<std::size_t>(i)];
    const std::string key = "follower-" + std::to_string(i);
    if (i == 2) {
      CHECK(s.code() == Code::kFailedPrecondition);
      CHECK_FALSE(HasMeta(f, key));
    } else {
      CHECK(s.ok());
      CHECK(HasMeta(f, key));
    }
  }
  // The leader's group, then one group of the six followers.
  CHECK(f.checkpoints().size() == checkpoints_before + 2);
  Result<std::vector<storage::AuditRow>> rows = storage::ReadValue(f.store(), [&](storage::ReadTxn& rtx) { return rtx.audit().List(0, 100, std::nullopt); });
  REQUIRE(rows.ok());
  REQUIRE(rows->size() == 1 + kFollowers - 1);
  CHECK(rows->front().detail == "leader");
  CHECK(rows->front().mac.has_value());
  for (std::size_t i = 1; i + 1 < rows->size(); ++i) CHECK_FALSE((*rows)[i].mac.has_value());
  CHECK(rows->back().mac.has_value());
  CHECK(f.audit().Verify()->ok);
}

TEST_CASE("A group holds at most batch_max commits", "[vault][audit][pipeline]") {
  EscrowOptions options;
  options.audit_batch_max = 2;
  VaultFixture f(options);
  CommitPipeline& pipeline = f.audit();
  Gate gate;
  std::thread leader([&] { CHECK(pipeline.Commit(gate.Change(), {EventNamed("leader")}).ok()); });
  gate.WaitEntered();
  std::vector<std::thread> followers;
  for (int i = 0; i < 5; ++i) {
    followers.emplace_back([&, i] {
      CHECK(pipeline.Append(EventNamed("follower-" + std::to_string(i))).ok());
    });
  }
  WaitQueued(pipeline, 6);
  gate.Open();
  leader.join();
  for (auto& t : followers) t.join();
  // The leader alone, then the five queued followers as 2 + 2 + 1.
  Result<std::vector<storage::AuditRow>> rows = storage::ReadValue(f.store(), [&](storage::ReadTxn& rtx) { return rtx.audit().List(0, 100, std::nullopt); });
  REQUIRE(rows.ok());
  REQUIRE(rows->size() == 6);
  std::vector<bool> sealed;
  for (const storage::AuditRow& row : *rows) sealed.push_back(row.mac.has_value());
  CHECK(sealed == std::vector<bool>{true, false, true, false, true, true});
  CHECK(f.checkpoints().size() == 4);
  CHECK(f.audit().Verify()->ok);
}

TEST_CASE("A group whose MAC fails fails every commit in it with kUnavailable and writes nothing",
          "[vault][audit][pipeline]") {
  VaultFixture f;
  Fill(f, 1);
  // A pipeline on the same database whose audit key does not exist: every MAC fails.
  CommitPipeline broken(f.keys(), f.store(), f.clock(), 99, {});
  REQUIRE(broken.Start().ok());
  Gate gate;
  std::thread leader([&] {
    Status s = broken.Commit(gate.Change(), {EventNamed("leader")});
    CHECK(s.code() == Code::kUnavailable);
  });
  gate.WaitEntered();
  std::vector<Status> results(4);
  std::vector<std::thread> followers;
  for (int i = 0; i < 4; ++i) {
    followers.emplace_back([&, i] {
      const std::string key = "doomed-" + std::to_string(i);
      results[static_cast<std::size_t>(i)] =
          broken.Commit(SetMetaChange(key, false), {EventNamed(key)});
    });
  }
  WaitQueued(broken, 5);
  gate.Open();
  leader.join();
  for (auto& t : followers) t.join();
  for (int i = 0; i < 4; ++i) {
    INFO("follower " << i);
    CHECK(results[static_cast<std::size_t>(i)].code() == Code::kUnavailable);
    CHECK(results[static_cast<std::size_t>(i)].reason() == "unavailable");
    CHECK_FALSE(HasMeta(f, "doomed-" + std::to_string(i)));
  }
  CHECK(broken.head().seq == 1);
  CHECK(storage::ReadValue(f.store(), [&](storage::ReadTxn& rtx) { return rtx.audit().Last(); })->value().seq == 1);
  // The vault's own pipeline goes on from the same head.
  Fill(f, 1);
  CHECK(f.audit().head().seq == 2);
  CHECK(f.audit().Verify()->ok);
}

TEST_CASE("A pipeline that was not started refuses commits", "[vault][audit][pipeline]") {
  VaultFixture f;
  CommitPipeline idle(f.keys(), f.store(), f.clock(), 1, {});
  CHECK(idle.Append(EventNamed("x")).code() == Code::kUnavailable);
  CHECK(storage::ReadValue(f.store(), [&](storage::ReadTxn& rtx) { return rtx.audit().Last(); })->has_value() == false);
}

}  // namespace
}  // namespace escrow::vault

namespace escrow::vault {
namespace {

// A release guard that records the heads it is asked to keep, can fail, and can hold its first
// call until opened.
class RecordingGuard {
 public:
  CommitPipeline::ReleaseGuard Guard() {
    return [this](const AuditHead& head) -> Status {
      std::unique_lock lock(mu_);
      kept_.push_back(head.seq);
      in_call_ = true;
      cv_.notify_all();
      cv_.wait(lock, [&] { return open_; });
      in_call_ = false;
      return fail_ ? Status::Unavailable("token gone") : Status::Ok();
    };
  }
  void Hold() { std::lock_guard lock(mu_); open_ = false; }
  void WaitInCall() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return in_call_; });
  }
  void Open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  void Fail(bool fail) { std::lock_guard lock(mu_); fail_ = fail; }
  std::vector<std::uint64_t> kept() {
    std::lock_guard lock(mu_);
    return kept_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::uint64_t> kept_;
  bool open_ = true;
  bool in_call_ = false;
  bool fail_ = false;
};

TEST_CASE("A releasing commit returns once the release guard kept a head at least as new as its "
          "own, and other commits never call it",
          "[vault][audit][pipeline]") {
  VaultFixture f;
  RecordingGuard guard;
  f.audit().SetReleaseGuard(guard.Guard());
  REQUIRE(f.audit().Commit({}, {EventNamed("plain")}).ok());
  CHECK(guard.kept().empty());
  REQUIRE(f.audit().Commit({}, {EventNamed("release")}, {}, /*releases_key=*/true).ok());
  REQUIRE(guard.kept().size() == 1);
  CHECK(guard.kept()[0] == f.audit().head().seq);
}

TEST_CASE("Releasing commits that commit while a guard call runs are not held up by it and "
          "share the next call",
          "[vault][audit][pipeline]") {
  VaultFixture f;
  RecordingGuard guard;
  f.audit().SetReleaseGuard(guard.Guard());
  guard.Hold();
  Status first;
  std::thread t0([&] { first = f.audit().Commit({}, {EventNamed("r0")}, {}, true); });
  guard.WaitInCall();
  const std::uint64_t first_seq = f.audit().head().seq;
  constexpr int kOthers = 6;
  std::vector<Status> results(kOthers);
  std::vector<std::thread> others;
  for (int i = 0; i < kOthers; ++i) {
    others.emplace_back([&, i] {
      results[static_cast<std::size_t>(i)] =
          f.audit().Commit({}, {EventNamed("r" + std::to_string(i + 1))}, {}, true);
    });
  }
  // Their groups commit while the first call is still held: the guard is not in the way.
  while (f.audit().head().seq < first_seq + kOthers) std::this_thread::yield();
  guard.Open();
  t0.join();
  for (auto& t : others) t.join();
  CHECK(first.ok());
  for (const Status& s : results) CHECK(s.ok());
  const std::vector<std::uint64_t> kept = guard.kept();
  REQUIRE(kept.size() == 2);  // the held call, then one for all six
  CHECK(kept[0] == first_seq);
  CHECK(kept[1] == first_seq + kOthers);
}

TEST_CASE("A failing guard call fails the releases it was to cover, their records stay, and the "
          "next call recovers",
          "[vault][audit][pipeline]") {
  VaultFixture f;
  RecordingGuard guard;
  f.audit().SetReleaseGuard(guard.Guard());
  guard.Fail(true);
  const Status refused = f.audit().Commit({}, {EventNamed("release")}, {}, true);
  CHECK(refused.code() == Code::kUnavailable);
  CHECK(refused.message().find("audit checkpoint not kept") != std::string::npos);
  const std::uint64_t durable = f.audit().head().seq;  // its record is committed all the same
  CHECK(f.audit().Commit({}, {EventNamed("plain")}).ok());
  guard.Fail(false);
  CHECK(f.audit().Commit({}, {EventNamed("release again")}, {}, true).ok());
  CHECK(f.audit().head().seq == durable + 2);
  CHECK(guard.kept().size() == 2);
}

}  // namespace
}  // namespace escrow::vault
