// vault-notify end to end (API.md, "Events for owners and security teams"): the real relay
// between the real vaultd and a real HMAC-checking receiver, with failures on either side.

#include <signal.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <thread>

#include <catch2/catch.hpp>

#include "tests/e2e/e2e_util.h"
#include "tests/e2e/notify_rig.h"

namespace escrow::e2e {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// None invented: each delivered event is an audit record of vaultd's, same seq and device.
void CheckBackedByAudit(const VaultProcess& v, const std::vector<std::uint64_t>& ids) {
  const HttpResult r =
      v.As(v.Token("aud@example.com", "--roles auditor"), "GET", "/v1/audit?limit=1000");
  REQUIRE(r.status == 200);
  std::map<std::uint64_t, std::string> device_of;
  const boost::json::value audit = Json(r.body);
  for (const boost::json::value& rec : audit.at("records").as_array()) {
    device_of[rec.at("seq").to_number<std::uint64_t>()] =
        std::string(rec.at("device_id").as_string());
  }
  for (std::uint64_t id : ids) {
    INFO("event " << id);
    CHECK(device_of.contains(id));
  }
}

std::set<std::uint64_t> AsSet(const std::vector<std::uint64_t>& ids) {
  return {ids.begin(), ids.end()};
}

TEST_CASE("vault-notify relays every event in order in signed batches of batch_size",
          "[e2e][notify]") {
  VaultProcess v;
  REQUIRE(v.Start());
  NotifyRig rig(v);
  rig.Prepare({}, 3, 7);
  const boost::json::array vault_events = rig.VaultEvents();
  const std::set<std::uint64_t> want = NotifyRig::Ids(vault_events);
  REQUIRE(want.size() >= 7);

  REQUIRE(rig.StartRelay());
  REQUIRE(rig.WaitForIds(want, seconds(20)));
  const std::vector<Batch> batches = rig.Batches();
  std::vector<std::uint64_t> arrivals = rig.Arrivals();
  // In order, each once (nothing failed), in batches of at most 3, exactly as vaultd has them.
  CHECK(std::is_sorted(arrivals.begin(), arrivals.end()));
  CHECK(AsSet(arrivals).size() == arrivals.size());
  CHECK(AsSet(arrivals) == want);
  boost::json::array relayed;
  for (const Batch& b : batches) {
    CHECK(b.ids.size() <= 3);
    for (const boost::json::value& e : b.events) relayed.push_back(e);
  }
  CHECK(relayed == vault_events);
  CHECK(rig.Refusals() == 0);  // every signature was good and fresh
  CheckBackedByAudit(v, arrivals);
  for (const boost::json::value& e : relayed) CHECK(e.at("type") == "recovery_key.stored");

  // The receiver has every batch before the relay has read the last answer and stored the
  // cursor: wait for the cursor, since a stop abandons an exchange still in flight.
  const std::string last = std::to_string(*want.rbegin()) + "\n";
  const auto deadline = std::chrono::steady_clock::now() + seconds(20);
  while (testing::ReadFileBytes(v.state() + "/notify/cursor") != last &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(20));
  }
  // A stop finishes cleanly, the cursor on disk at the last event.
  rig.relay().Signal(SIGTERM);
  CHECK(rig.relay().Wait(milliseconds(5000)) == 0);
  CHECK(testing::ReadFileBytes(v.state() + "/notify/cursor") ==
        std::to_string(*want.rbegin()) + "\n");
  CHECK_THAT(rig.RelayLog(), Catch::Contains(R"("msg":"stopped")"));
}

TEST_CASE("vault-notify redelivers after the receiver fails for a while and loses nothing",
          "[e2e][notify]") {
  VaultProcess v;
  REQUIRE(v.Start());
  NotifyRig rig(v);
  rig.Prepare({}, 2, 5);
  // Two requests and then two seconds of 500s, counted from the relay's start (not the
  // receiver's: the keys may take a while to store on a loaded machine).
  rig.ControlReceiver(R"({"fail":2,"fail_for":2,"mode":"500"})");
  REQUIRE(rig.StartRelay());
  REQUIRE(rig.WaitForIds(NotifyRig::Ids(rig.VaultEvents()), seconds(20)));
  CHECK(rig.Refusals("told to fail: 500") >= 2);  // retried with backoff, not given up
  CHECK_THAT(rig.RelayLog(), Catch::Contains("webhook answered HTTP 500"));

  // Then connections dropped without an answer.
  rig.ControlReceiver(R"({"fail":3,"mode":"drop"})");
  rig.StoreKeys("pc", 3);
  const std::set<std::uint64_t> want = NotifyRig::Ids(rig.VaultEvents());
  REQUIRE(rig.WaitForIds(want, seconds(20)));
  CHECK(rig.Refusals("told to fail: drop") == 3);
  const std::vector<std::uint64_t> arrivals = rig.Arrivals();
  CHECK(AsSet(arrivals) == want);
  CHECK(std::is_sorted(arrivals.begin(), arrivals.end()));  // a failed batch is never counted
  CheckBackedByAudit(v, arrivals);

  // SIGTERM while the receiver keeps a batch waiting: the attempt is abandoned at once.
  rig.ControlReceiver(R"({"fail":1,"mode":"hang"})");
  rig.StoreKeys("tab", 1);
  REQUIRE(rig.WaitForRefusal("told to fail: hang"));
  const auto t0 = std::chrono::steady_clock::now();
  rig.relay().Signal(SIGTERM);
  CHECK(rig.relay().Wait(milliseconds(3000)) == 0);
  CHECK(std::chrono::steady_clock::now() - t0 < milliseconds(2500));  // the hang is 5 s
}

TEST_CASE("vault-notify killed with -9 mid-batch and restarted delivers every event",
          "[e2e][notify]") {
  VaultProcess v;
  REQUIRE(v.Start());
  NotifyRig rig(v);
  // Two batches go through, the third hangs: the relay is killed while it waits.
  rig.Prepare({"--ok-first", "2", "--fail", "1", "--mode", "hang", "--hang-seconds", "30"}, 4, 14);
  const std::set<std::uint64_t> want = NotifyRig::Ids(rig.VaultEvents());
  REQUIRE(rig.StartRelay());
  REQUIRE(rig.WaitForRefusal("told to fail: hang"));
  rig.relay().Signal(SIGKILL);
  CHECK(rig.relay().Wait(milliseconds(5000)) == -1);
  CHECK(rig.Arrivals().size() == 8);

  // Killed again at odd moments while it catches up, then left to finish.
  rig.StoreKeys("pc", 10);
  for (int round = 0; round < 4; ++round) {
    REQUIRE(rig.StartRelay());
    std::this_thread::sleep_for(milliseconds(40 + 70 * round));
    rig.relay().Signal(SIGKILL);
    rig.relay().Wait(milliseconds(5000));
  }
  const std::set<std::uint64_t> all = NotifyRig::Ids(rig.VaultEvents());
  CHECK(rig.RunOnce() == 0);
  REQUIRE(rig.WaitForIds(all, seconds(5)));
  const std::vector<std::uint64_t> arrivals = rig.Arrivals();
  CHECK(AsSet(arrivals) == all);  // duplicates allowed, none missing, none invented
  CHECK(std::includes(all.begin(), all.end(), want.begin(), want.end()));
  // At least once, but a crash re-sends at most the batch in flight each time.
  constexpr std::size_t kMostResent = 20;  // five kills, each with a batch of 4 in flight
  CHECK(arrivals.size() <= all.size() + kMostResent);
  CheckBackedByAudit(v, arrivals);
}

TEST_CASE("vault-notify relays a release made just before vaultd was killed with -9",
          "[e2e][notify]") {
  VaultProcess v;
  REQUIRE(v.Start());
  NotifyRig rig(v);
  rig.Prepare({}, 100, 1);
  REQUIRE(rig.StartRelay());
  REQUIRE(rig.WaitForIds(NotifyRig::Ids(rig.VaultEvents()), seconds(20)));

  const std::string helpdesk = v.Token("hd@example.com", "--roles helpdesk");
  const HttpResult r = v.As(helpdesk, "POST", "/v1/devices/mac0/recovery-key/retrieve",
                            R"({"reason":"ticket NOTIFY-REASON-77"})");
  REQUIRE(r.status == 200);
  const int port = v.port();
  v.Stop(SIGKILL);
  REQUIRE(v.Start({"--listen", "127.0.0.1:" + std::to_string(port)}));

  bool arrived = false;
  for (int i = 0; i < 200 && !arrived; ++i) {
    for (const Batch& b : rig.Batches()) {
      for (const boost::json::value& e : b.events) {
        arrived =
            arrived || (e.at("type") == "recovery_key.retrieved" && e.at("device_id") == "mac0" &&
                        e.at("by_owner") == false && e.at("reason") == "ticket NOTIFY-REASON-77" &&
                        e.at("owner") == "alice@example.com");
      }
    }
    if (!arrived) std::this_thread::sleep_for(milliseconds(100));
  }
  CHECK(arrived);
  CHECK(AsSet(rig.Arrivals()) == NotifyRig::Ids(rig.VaultEvents()));
  // The relay's log names ids and counts, never a reason or the secret.
  const std::string log = rig.RelayLog();
  CHECK_THAT(log, !Catch::Contains("NOTIFY-REASON-77"));
  const std::string secret = testing::ReadFileBytes(v.state() + "/notify.secret");
  CHECK_THAT(log, !Catch::Contains(secret.substr(0, 16)));
}

TEST_CASE("vault-notify --once delivers what is there, exits 0, and the lag gauge follows",
          "[e2e][notify]") {
  VaultProcess v;
  REQUIRE(v.Start());
  NotifyRig rig(v);
  rig.Prepare({"--fail", "1", "--mode", "500"}, 2, 5);
  std::this_thread::sleep_for(milliseconds(1500));
  CHECK(rig.LagSeconds() > 0);  // nobody relayed them yet

  // A failed --once exits nonzero and keeps the cursor; the next run delivers.
  CHECK(rig.RunOnce() == 1);
  CHECK(rig.Arrivals().empty());
  CHECK(rig.LagSeconds() > 0);
  CHECK(rig.RunOnce() == 0);
  const std::set<std::uint64_t> want = NotifyRig::Ids(rig.VaultEvents());
  CHECK(AsSet(rig.Arrivals()) == want);
  CHECK(rig.LagSeconds() == 0);
  CHECK(rig.RunOnce() == 0);  // nothing new: nothing sent
  CHECK(rig.Arrivals().size() == want.size());
}

TEST_CASE("vault-notify verifies an https webhook's certificate against webhook_ca",
          "[e2e][notify]") {
  VaultProcess v;
  REQUIRE(v.Start());
  NotifyRig rig(v);
  // The receiver serves vaultd's own dev certificate (localhost, 127.0.0.1).
  rig.Prepare({"--cert", v.state() + "/tls/server.crt", "--key", v.state() + "/tls/server.key"}, 10,
              2);
  const std::string url =
      "\"https://127.0.0.1:" + std::to_string(rig.receiver_port()) + "/events\"";
  const std::set<std::uint64_t> want = NotifyRig::Ids(rig.VaultEvents());

  // Another CA: never delivered, never given up, the cursor unmoved.
  const std::string other = v.tmp() + "/other-ca";
  REQUIRE(Sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 "
             "-subj /CN=other -keyout " +
             Quote(other + ".key") + " -out " + Quote(other + ".crt") + " >/dev/null 2>&1") == 0);
  rig.WriteConfig({{"webhook_url", url}, {"webhook_ca", Quote(other + ".crt")}});
  CHECK(rig.RunOnce() == 1);
  CHECK_THAT(rig.RelayLog(), Catch::Contains("certificate verify failed"));
  CHECK(rig.Arrivals().empty());

  rig.WriteConfig({{"webhook_url", url}, {"webhook_ca", Quote(v.CaFile())}});
  CHECK(rig.RunOnce() == 0);
  CHECK(AsSet(rig.Arrivals()) == want);
  CHECK(rig.Refusals() == 0);
}

TEST_CASE("vault-notify refuses to start on an unsafe config or secret", "[e2e][notify]") {
  VaultProcess v;
  NotifyRig rig(v);
  rig.WriteConfig({{"webhook_url", "\"http://192.0.2.1:9099/events\""}});
  CHECK(rig.RunOnce() == 2);
  CHECK_THAT(rig.RelayLog(), Catch::Contains("must be https unless its host is a loopback"));
  rig.WriteConfig({{"batch_size", "0"}});
  CHECK(rig.RunOnce() == 2);
  CHECK_THAT(rig.RelayLog(), Catch::Contains("batch_size must be between 1 and 1000"));
  rig.WriteConfig({{"pol_seconds", "5"}});
  CHECK(rig.RunOnce() == 2);
  CHECK_THAT(rig.RelayLog(), Catch::Contains("unknown key 'pol_seconds'"));
  rig.WriteConfig();
  REQUIRE(Sh("chmod 644 " + Quote(v.state() + "/notify.secret")) == 0);
  CHECK(rig.RunOnce() == 2);
  CHECK_THAT(rig.RelayLog(), Catch::Contains("(chmod 600 it)"));
  CHECK_THAT(rig.RelayLog(),
             !Catch::Contains(testing::ReadFileBytes(v.state() + "/notify.secret").substr(0, 16)));
}

}  // namespace
}  // namespace escrow::e2e
