// Master-key rotation by `vaultctl` while two vaultd nodes serve one PostgreSQL database
// (issue 18; docs/operations.md §3 and §17): the nodes share one config and one SoftHSMv2
// token directory, as nodes on one network HSM do. Owners store keys on both nodes and a
// helpdesk user retrieves them on both while `vaultctl master-key rotate` runs, then while
// `master-key rotate --retire-old --yes` runs and destroys the older master keys.
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "tests/e2e/multi_node_cluster.h"

namespace escrow::e2e {
namespace {

using testing::PostgresServer;
using Clock = std::chrono::steady_clock;

// The phases of the test, in order; every answer is counted under the phase it came in.
enum Phase : int {
  kBefore = 0,  // both nodes serve under escrow-master-v1
  kRotating,    // `master-key rotate` runs, again and again (v1 -> v2 -> ...)
  kBetween,     // the last version active, the older ones still on the token
  kRetiring,    // `master-key rotate --retire-old --yes` runs, again and again
  kAfter,       // only the last version is left on the token
  kPhases
};

std::string PhaseName(int phase) {
  constexpr std::array<const char*, kPhases> kNames = {"before", "rotating", "between", "retiring",
                                                       "after"};
  return kNames.at(static_cast<std::size_t>(phase));
}

// Owners' stores and helpdesk retrievals on both nodes, until Stop(). Every answer is
// counted by phase, node, call and status; every answer that is neither 2xx is kept.
class Load {
 public:
  Load(Cluster& c, int writers) : c_(c) {
    owner_ = c.a.Token("alice@example.com");
    helpdesk_ = c.a.Token("hd@example.com", "--roles helpdesk");
    for (int w = 0; w < writers; ++w) threads_.emplace_back([this, w] { Write(w); });
    for (int r = 0; r < 2; ++r) threads_.emplace_back([this, r] { Retrieve(r); });
  }
  Load(const Load&) = delete;  // owns threads that point into it
  Load& operator=(const Load&) = delete;
  Load(Load&&) = delete;
  Load& operator=(Load&&) = delete;
  ~Load() { Stop(); }

  void Stop() {
    stop_ = true;
    for (std::thread& t : threads_) {
      if (t.joinable()) t.join();
    }
  }
  void SetPhase(Phase p) { phase_ = p; }

  // Acknowledged stores and retrievals of `phase` on node `node` (0: a, 1: b).
  [[nodiscard]] int Stored(int phase, int node) const { return At(stored_, phase, node); }
  [[nodiscard]] int Retrieved(int phase, int node) const { return At(retrieved_, phase, node); }
  std::size_t Devices() {
    const std::lock_guard lock(mu_);
    return last_.size();
  }
  // device -> the key of its last acknowledged store.
  std::map<std::string, std::string> Acknowledged() {
    const std::lock_guard lock(mu_);
    return last_;
  }
  // "phase node call status" -> count, and every answer that was not 2xx.
  std::map<std::string, int> Tally() {
    const std::lock_guard lock(mu_);
    return tally_;
  }
  std::vector<std::string> Unexpected() {
    const std::lock_guard lock(mu_);
    return unexpected_;
  }

 private:
  [[nodiscard]] const VaultProcess& Node(int n) const { return n == 0 ? c_.a : *c_.b; }

  // Counts one answer; false unless it is 2xx.
  bool Note(int node, const std::string& call, const HttpResult& r, const std::string& id) {
    const int phase = phase_;
    const std::lock_guard lock(mu_);
    std::ostringstream key;
    key << PhaseName(phase) << " " << (node == 0 ? "a" : "b") << " " << call << " " << r.status;
    ++tally_[key.str()];
    if (r.status / 100 == 2) return true;
    unexpected_.push_back(key.str() + " " + id + " (curl " + std::to_string(r.curl_exit) +
                          "): " + r.body);
    return false;
  }

  // Writer w: a new device and its key, on node a and b in turn; every third round also a new
  // key for one of its earlier devices, on the other node (a new version of a device whose
  // older versions the rotation re-encrypts meanwhile).
  void Write(int w) {
    std::vector<std::string> mine;
    int keys = 0;
    for (int i = 0; !stop_; ++i) {
      const int node = (w + i) % 2;
      const std::string id = "rot" + std::to_string(w) + "-" + std::to_string(i);
      const int phase = phase_;
      if (!Note(node, "enrol", Node(node).Mdm("PUT", "/v1/devices/" + id, DeviceFor(id)), id) ||
          !Note(node, "checkin", Node(node).Mdm("POST", "/v1/devices/" + id + "/checkin", "{}"),
                id)) {
        continue;
      }
      const std::string key = KeyFor(w, keys++);
      if (Note(node, "store", StoreKey(Node(node), owner_, id, key), id)) {
        const std::lock_guard lock(mu_);
        last_[id] = key;
        history_[id].push_back(key);
        ++At(stored_, phase, node);
        mine.push_back(id);
      }
      if (i % 3 == 2 && !mine.empty()) {
        const std::string& again = mine[static_cast<std::size_t>(i) % mine.size()];
        const int other = 1 - node;
        const int now = phase_;
        const std::string next = KeyFor(w, keys++);
        if (Note(other, "store", StoreKey(Node(other), owner_, again, next), again)) {
          const std::lock_guard lock(mu_);
          last_[again] = next;
          history_[again].push_back(next);
          ++At(stored_, now, other);
        }
      }
    }
  }

  // Retriever r: helpdesk retrievals of acknowledged devices on node r; the key released must
  // be one the device was given.
  void Retrieve(int r) {
    std::mt19937 rng(static_cast<unsigned>(r) + 7U);
    while (!stop_) {
      std::string id;
      {
        const std::lock_guard lock(mu_);
        if (!last_.empty()) {
          auto it = last_.begin();
          std::advance(it, static_cast<long>(rng() % last_.size()));
          id = it->first;
        }
      }
      if (id.empty()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        continue;
      }
      const int phase = phase_;
      const HttpResult answer = HelpdeskRetrieve(Node(r), helpdesk_, id);
      if (!Note(r, "retrieve", answer, id)) continue;
      const std::lock_guard lock(mu_);
      bool known = false;
      for (const std::string& key : history_[id]) known = known || Contains(answer.body, key);
      if (known) {
        ++At(retrieved_, phase, r);
      } else {
        unexpected_.push_back("retrieve " + id +
                              " released a key it was never given: " + answer.body);
      }
    }
  }

  using Counts = std::array<std::array<std::atomic<int>, 2>, kPhases>;
  static std::atomic<int>& At(Counts& counts, int phase, int node) {
    return counts.at(static_cast<std::size_t>(phase)).at(static_cast<std::size_t>(node));
  }
  static int At(const Counts& counts, int phase, int node) {
    return counts.at(static_cast<std::size_t>(phase)).at(static_cast<std::size_t>(node));
  }
  static bool Contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
  }
  static std::string DeviceFor(const std::string& id) {
    return R"({"serial":"S-)" + id + R"(","name":"D )" + id +
           R"(","platform":"macos","ownership":"corporate",)"
           R"("owner":"alice@example.com","encryption_enabled":true})";
  }

  Cluster& c_;
  std::string owner_;
  std::string helpdesk_;
  std::atomic<bool> stop_{false};
  std::atomic<int> phase_{kBefore};
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::map<std::string, std::string> last_;                  // guarded by mu_
  std::map<std::string, std::vector<std::string>> history_;  // guarded by mu_
  std::map<std::string, int> tally_;                         // guarded by mu_
  std::vector<std::string> unexpected_;                      // guarded by mu_
  // [phase][node]: acknowledged stores and retrievals.
  Counts stored_{};
  Counts retrieved_{};
};

// Waits until `done` or `limit` has passed; true if done.
template <class Done>
bool WaitFor(Done done, std::chrono::seconds limit) {
  const auto deadline = Clock::now() + limit;
  while (!done()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

// In phase `p`, at least `n` acknowledged stores and retrievals on each node.
bool Served(Load& load, Phase p, int n) {
  return load.Stored(p, 0) >= n && load.Stored(p, 1) >= n && load.Retrieved(p, 0) >= n &&
         load.Retrieved(p, 1) >= n;
}

// One `vaultctl master-key rotate` run (with `extra` arguments); REQUIREs exit 0 and that it
// rotated to escrow-master-v<to>.
std::string Rotate(const Cluster& c, std::uint32_t to, const std::string& extra = "") {
  int rc = -1;
  std::string out = Vaultctl("master-key rotate --config " + Quote(c.Config()) + extra, &rc);
  INFO(out);
  REQUIRE(rc == 0);
  REQUIRE_THAT(out, Catch::Contains("master key rotated to escrow-master-v" + std::to_string(to)));
  return out;
}

// A rotation re-encrypts this test's few hundred records in a fraction of a second, less than
// the load needs for a few answers: so `rotate` runs again and again (each run a new version,
// activated while both nodes store and retrieve) until each node has acknowledged stores and
// retrievals that began during the runs; then `rotate --retire-old --yes` the same way (each
// run destroys the version that was active until it began, which the nodes were using).
TEST_CASE("master-key rotate then --retire-old while two nodes serve: every store kept and no 5xx",
          "[e2e][postgres][multinode][rotation]") {
  Cluster c(PostgresServer::Shared(), Uncapped());
  Load load(c, 4);
  REQUIRE(WaitFor([&] { return load.Devices() >= 40 && Served(load, kBefore, 2); },
                  std::chrono::seconds(120)));
  constexpr int kMaxRuns = 12;
  std::uint32_t version = 1;

  load.SetPhase(kRotating);
  int rotations = 0;
  const auto rotate_started = Clock::now();
  while (rotations < kMaxRuns && (rotations < 2 || !Served(load, kRotating, 3))) {
    const std::string out = Rotate(c, ++version);
    CHECK(out.find("destroyed") == std::string::npos);
    ++rotations;
  }
  const double rotate_s = std::chrono::duration<double>(Clock::now() - rotate_started).count();
  CHECK(Served(load, kRotating, 3));

  // Both nodes serve under the last version, the older ones still on the token.
  load.SetPhase(kBetween);
  CHECK(WaitFor([&] { return Served(load, kBetween, 2); }, std::chrono::seconds(60)));

  load.SetPhase(kRetiring);
  int retirements = 0;
  const auto retire_started = Clock::now();
  while (retirements < kMaxRuns && (retirements < 2 || !Served(load, kRetiring, 3))) {
    const std::uint32_t before = version;
    const std::string out = Rotate(c, ++version, " --retire-old --yes");
    // The first run destroys every older version; each later one the version before it.
    for (std::uint32_t old = retirements == 0 ? 1 : before; old <= before; ++old) {
      CHECK_THAT(out, Catch::Contains("destroyed escrow-master-v" + std::to_string(old)));
    }
    ++retirements;
  }
  const double retire_s = std::chrono::duration<double>(Clock::now() - retire_started).count();
  CHECK(Served(load, kRetiring, 3));

  // Only the last version is left on the token: both nodes go on storing and releasing, past
  // the second in which a node may still hold session copies of the destroyed keys.
  load.SetPhase(kAfter);
  const auto after_started = Clock::now();
  CHECK(WaitFor(
      [&] {
        return Served(load, kAfter, 3) && Clock::now() - after_started > std::chrono::seconds(2);
      },
      std::chrono::seconds(60)));
  load.Stop();

  std::ostringstream tally;
  for (const auto& [what, n] : load.Tally()) tally << what << ": " << n << "\n";
  INFO(rotations << " rotations in " << rotate_s << " s, " << retirements
                 << " rotations with --retire-old in " << retire_s << " s\n"
                 << tally.str());
  const std::vector<std::string> unexpected = load.Unexpected();
  for (const std::string& u : unexpected) UNSCOPED_INFO(u);
  CHECK(unexpected.empty());

  // Every record is under the last version, the one the database names as active, and the
  // token holds no other master key.
  const std::string last = std::to_string(version) + "\n";
  CHECK(c.Query("SELECT value FROM meta WHERE key = 'active_master_key_version'") == last);
  CHECK(c.Query("SELECT DISTINCT master_key_version FROM key_versions") == last);
  int rc = -1;
  const std::string status = Vaultctl("status --config " + Quote(c.Config()), &rc);
  INFO(status);
  CHECK(rc == 0);
  CHECK_THAT(status, Catch::Contains("active master key version: " + last));
  CHECK_THAT(status, Catch::Contains("rotation:       none"));
  std::size_t master_keys = 0;
  for (std::size_t at = status.find("escrow-master-v"); at != std::string::npos;
       at = status.find("escrow-master-v", at + 1)) {
    ++master_keys;
  }
  CHECK(master_keys == 1);

  // New stores on either node are sealed under the last version (read from the row it wrote).
  const std::string owner = c.a.Token("alice@example.com");
  for (int n = 0; n < 2; ++n) {
    const VaultProcess& node = n == 0 ? c.a : *c.b;
    const std::string id = std::string("fresh-") + (n == 0 ? "a" : "b");
    REQUIRE(EnrolOwn(node, id));
    REQUIRE(StoreKey(node, owner, id, KeyFor(20 + n, 0)).status == 200);
    CHECK(c.Query("SELECT master_key_version FROM key_versions WHERE device_id = '" + id + "'") ==
          last);
  }

  // Every acknowledged store reads back, its last key, from both nodes.
  const std::string hd = c.a.Token("hd@example.com", "--roles helpdesk");
  const std::map<std::string, std::string> acknowledged = load.Acknowledged();
  INFO("devices " << acknowledged.size());
  for (const auto& [id, key] : acknowledged) {
    for (const VaultProcess* node : {&c.a, c.b.get()}) {
      const HttpResult r = HelpdeskRetrieve(*node, hd, id);
      INFO(id << " on " << node->port() << ": " << r.body);
      CHECK(r.status == 200);
      CHECK_THAT(r.body, Catch::Contains(key));
    }
  }

  const std::string verified = c.Verify(&rc);
  INFO(verified);
  CHECK(rc == 0);
}

}  // namespace
}  // namespace escrow::e2e
