// Several vaultd nodes on one PostgreSQL database (API.md "PostgreSQL and several nodes"),
// through the real binaries: a dev vault made by `vaultctl init --dev`, copied into a real
// PostgreSQL 15 by `vaultctl db migrate --to`, then served by two vaultd processes on the
// same config, token and certificates.
#include <signal.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "tests/e2e/multi_node_cluster.h"
#include "tests/support/temp_dir.h"

namespace escrow::e2e {
namespace {

using testing::PostgresServer;

TEST_CASE("What one node stores, the other serves at once, and the chain stays one chain",
          "[e2e][postgres][multinode]") {
  Cluster c(PostgresServer::Shared());
  c.a.Enrol("mac1", "alice@example.com", "corporate");
  const std::string alice = c.a.Token("alice@example.com");
  const std::string hd = c.a.Token("hd@example.com", "--roles helpdesk");
  REQUIRE(StoreKey(c.a, alice, "mac1", kMacKey1).status == 200);

  HttpResult r = HelpdeskRetrieve(*c.b, hd, "mac1");
  INFO(r.body);
  REQUIRE(r.status == 200);
  CHECK_THAT(r.body, Catch::Contains(kMacKey1));
  // The release burned version 1 on node b: node a sees the rotation pending, and the new
  // key stored on b is what a releases next.
  REQUIRE(StoreKey(*c.b, alice, "mac1", kMacKey2).status == 200);
  r = HelpdeskRetrieve(c.a, hd, "mac1");
  REQUIRE(r.status == 200);
  CHECK_THAT(r.body, Catch::Contains(kMacKey2));
  CHECK_THAT(r.body, Catch::Contains(R"("version":2)"));

  int rc = 0;
  const std::string verified = c.Verify(&rc);
  INFO(verified);
  CHECK(rc == 0);

  // No plaintext anywhere in the database, in any spelling.
  std::string dump;
  REQUIRE(Sh("/usr/lib/postgresql/15/bin/pg_dump -h " + Quote(c.pg.dir()) + " -U " +
                 Quote(c.pg.user()) + " " + Quote(c.database),
             &dump) == 0);
  CHECK_THAT(dump, Catch::Contains("mac1"));  // the dump is real
  for (const std::string& key : {std::string(kMacKey1), std::string(kMacKey2)}) {
    std::string bare;
    for (char ch : key) {
      if (ch != '-') bare += ch;
    }
    CHECK(dump.find(key) == std::string::npos);
    CHECK(dump.find(bare) == std::string::npos);
  }
}

TEST_CASE("A helpdesk quota holds across both nodes", "[e2e][postgres][multinode]") {
  Cluster c(PostgresServer::Shared(), {{"daily_quota", "2"}});
  const std::string hd = c.a.Token("hd@example.com", "--roles helpdesk");
  for (const char* id : {"mac1", "mac2", "mac3"}) {
    c.a.Enrol(id, "alice@example.com", "corporate");
    REQUIRE(StoreKey(c.a, c.a.Token("alice@example.com"), id, kMacKey1).status == 200);
  }
  CHECK(HelpdeskRetrieve(c.a, hd, "mac1").status == 200);
  CHECK(HelpdeskRetrieve(*c.b, hd, "mac2").status == 200);
  const HttpResult third = HelpdeskRetrieve(c.a, hd, "mac3");
  INFO(third.body);
  CHECK(third.status == 429);
  CHECK(HelpdeskRetrieve(*c.b, hd, "mac3").status == 429);
}

TEST_CASE("A user's retrieval limit holds across both nodes", "[e2e][postgres][multinode]") {
  Cluster c(PostgresServer::Shared(), {{"daily_quota", "0"},
                                       {"retrieve_per_user", "{ count = 3, window_seconds = 60 }"}});
  const std::string hd = c.a.Token("hd@example.com", "--roles helpdesk");
  // Every attempt counts, allowed or denied (API.md "Limits"): these devices do not exist.
  CHECK(HelpdeskRetrieve(c.a, hd, "nodev1").status == 404);
  CHECK(HelpdeskRetrieve(*c.b, hd, "nodev2").status == 404);
  CHECK(HelpdeskRetrieve(c.a, hd, "nodev3").status == 404);
  const HttpResult fourth = HelpdeskRetrieve(*c.b, hd, "nodev4");
  INFO(fourth.body);
  CHECK(fourth.status == 429);
  CHECK(HelpdeskRetrieve(c.a, hd, "nodev5").status == 429);
  // Another user's attempts are their own.
  const std::string hd2 = c.a.Token("hd2@example.com", "--roles helpdesk");
  CHECK(HelpdeskRetrieve(*c.b, hd2, "nodev1").status == 404);
  // The throttling was audited once, by whichever node saw the first denial.
  int rc = 0;
  const std::string exported =
      Vaultctl("audit export --config " + Quote(c.a.state() + "/vault.conf") + " --format jsonl", &rc);
  REQUIRE(rc == 0);
  std::size_t throttled = 0;
  for (std::size_t at = exported.find("retrieve_per_user"); at != std::string::npos;
       at = exported.find("retrieve_per_user", at + 1)) {
    ++throttled;
  }
  CHECK(throttled == 1);
}

// Before a key leaves, each node keeps the head on the shared token as its own object
// (hsm/data_object.h): releases on both nodes at once never race over one object.
TEST_CASE("Releases on both nodes at once: every one answered, each node's checkpoint kept",
          "[e2e][postgres][multinode]") {
  Cluster c(PostgresServer::Shared(), Uncapped());
  const std::string owner = c.a.Token("alice@example.com");
  constexpr int kThreads = 4;
  constexpr int kPerThread = 6;
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kPerThread; ++i) {
      const std::string id = "rel" + std::to_string(t) + "-" + std::to_string(i);
      c.a.Enrol(id, "alice@example.com", "corporate");
      REQUIRE(StoreKey(c.a, owner, id, KeyFor(t, i)).status == 200);
    }
  }
  const std::string hd = c.a.Token("hd@example.com", "--roles helpdesk");
  std::atomic<int> released{0};
  std::mutex mu;
  std::vector<std::string> failures;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const VaultProcess& node = t % 2 == 0 ? c.a : *c.b;
      for (int i = 0; i < kPerThread; ++i) {
        const std::string id = "rel" + std::to_string(t) + "-" + std::to_string(i);
        const HttpResult r = HelpdeskRetrieve(node, hd, id);
        if (r.status == 200 && r.body.find(KeyFor(t, i)) != std::string::npos) {
          ++released;
        } else {
          const std::lock_guard lock(mu);
          failures.push_back(id + ": " + std::to_string(r.status) + " " + r.body);
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (const std::string& f : failures) UNSCOPED_INFO(f);
  CHECK(failures.empty());
  CHECK(released == kThreads * kPerThread);
  // One object per node on the token, as pkcs11-tool lists it.
  const std::string text = testing::ReadFileBytes(c.a.state() + "/vault.conf");
  const std::size_t at = text.find("token_label = '");  // as RenderConfig quotes it
  REQUIRE(at != std::string::npos);
  const std::size_t from = at + std::string("token_label = '").size();
  const std::string label = text.substr(from, text.find('\'', from) - from);
  std::string listing;
  REQUIRE(Sh("SOFTHSM2_CONF=" + Quote(c.a.state() + "/hsm/softhsm2.conf") +
                 " pkcs11-tool --module /usr/lib/softhsm/libsofthsm2.so --token-label " +
                 Quote(label) + " --login --pin \"$(cat " + Quote(c.a.state() + "/hsm/user.pin") +
                 ")\" --list-objects --type data 2>&1",
             &listing) == 0);
  INFO(listing);
  for (const std::string node : {"a", "b"}) {
    const std::string quoted = "'escrow-audit-checkpoint@" + node + "'";
    const std::size_t first = listing.find(quoted);
    CHECK(first != std::string::npos);
    CHECK(listing.find(quoted, first + 1) == std::string::npos);
  }
  int rc = 0;
  const std::string verified = c.Verify(&rc);
  INFO(verified);
  CHECK(rc == 0);
}

// Eight writers, four on each node; node a is killed with -9 while they write, and its
// writers move to b as a load balancer would. Every store that was answered 200 reads back
// from b, and the audit chain verifies: no gap, no fork.
TEST_CASE("Eight writers over two nodes, one killed with -9: nothing acknowledged is lost",
          "[e2e][postgres][multinode]") {
  Cluster c(PostgresServer::Shared(), Uncapped());
  const std::string owner = c.a.Token("alice@example.com");
  constexpr int kWriters = 8;
  constexpr int kPerWriter = 12;
  std::mutex mu;
  std::vector<std::pair<std::string, std::string>> acknowledged;  // device, key
  std::atomic<bool> a_killed{false};
  std::atomic<int> stored{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      for (int i = 0; i < kPerWriter; ++i) {
        const VaultProcess& node = (w % 2 == 0 && !a_killed) ? c.a : *c.b;
        const std::string id = "w" + std::to_string(w) + "-" + std::to_string(i);
        const std::string body = R"({"serial":"S-)" + id + R"(","name":"D )" + id +
                                 R"(","platform":"macos","ownership":"corporate",)"
                                 R"("owner":"alice@example.com","encryption_enabled":true})";
        if (node.Mdm("PUT", "/v1/devices/" + id, body).status / 100 != 2) continue;
        if (node.Mdm("POST", "/v1/devices/" + id + "/checkin", "{}").status != 200) continue;
        const std::string key = KeyFor(w, i);
        if (StoreKey(node, owner, id, key).status == 200) {
          const std::lock_guard lock(mu);
          acknowledged.emplace_back(id, key);
          ++stored;
        }
      }
    });
  }
  while (stored < kWriters * kPerWriter / 4)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  c.a.Stop(SIGKILL);
  a_killed = true;
  for (std::thread& t : writers) t.join();
  INFO("acknowledged " << acknowledged.size());
  REQUIRE(acknowledged.size() >= static_cast<std::size_t>(kWriters * kPerWriter / 2));
  const std::string hd = c.b->Token("hd@example.com", "--roles helpdesk");
  for (const auto& [id, key] : acknowledged) {
    const HttpResult r = HelpdeskRetrieve(*c.b, hd, id);
    INFO(id << ": " << r.body);
    CHECK(r.status == 200);
    CHECK_THAT(r.body, Catch::Contains(key));
  }
  int rc = 0;
  const std::string verified = c.Verify(&rc);
  INFO(verified);
  CHECK(rc == 0);
}

// A server of its own: restarting the shared one would end every other test's sessions.
TEST_CASE("PostgreSQL restarted under load: 503s, then service resumes, nothing acknowledged lost",
          "[e2e][postgres][multinode]") {
  Result<std::unique_ptr<PostgresServer>> own = PostgresServer::Start();
  REQUIRE(own.ok());
  Cluster c(**own, Uncapped());
  const std::string owner = c.a.Token("alice@example.com");
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::vector<std::pair<std::string, std::string>> acknowledged;
  std::atomic<int> unavailable{0};
  std::atomic<int> other{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < 4; ++w) {
    writers.emplace_back([&, w] {
      const VaultProcess& node = w % 2 == 0 ? c.a : *c.b;
      for (int i = 0; !stop && i < 400; ++i) {
        const std::string id = "r" + std::to_string(w) + "-" + std::to_string(i);
        const std::string body = R"({"serial":"S-)" + id + R"(","name":"D )" + id +
                                 R"(","platform":"macos","ownership":"corporate",)"
                                 R"("owner":"alice@example.com","encryption_enabled":true})";
        const HttpResult put = node.Mdm("PUT", "/v1/devices/" + id, body);
        if (put.status == 503) ++unavailable;
        if (put.status / 100 != 2) continue;
        if (node.Mdm("POST", "/v1/devices/" + id + "/checkin", "{}").status != 200) continue;
        const HttpResult r = StoreKey(node, owner, id, KeyFor(w, i));
        if (r.status == 200) {
          const std::lock_guard lock(mu);
          acknowledged.emplace_back(id, KeyFor(w, i));
        } else if (r.status == 503) {
          ++unavailable;
        } else {
          ++other;
        }
      }
    });
  }
  const auto count = [&] {
    const std::lock_guard lock(mu);
    return acknowledged.size();
  };
  while (count() < 8) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  REQUIRE((*own)->Restart().ok());
  const std::size_t before_restart_done = count();
  // Service resumes: both nodes acknowledge stores again.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (count() < before_restart_done + 16 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  stop = true;
  for (std::thread& t : writers) t.join();
  INFO("acknowledged " << acknowledged.size() << ", 503s " << unavailable << ", other " << other);
  CHECK(unavailable > 0);
  CHECK(other == 0);
  REQUIRE(acknowledged.size() >= before_restart_done + 16);
  const std::string hd = c.a.Token("hd@example.com", "--roles helpdesk");
  for (const auto& [id, key] : acknowledged) {
    const HttpResult r = HelpdeskRetrieve(c.a, hd, id);
    INFO(id << ": " << r.body);
    CHECK(r.status == 200);
    CHECK_THAT(r.body, Catch::Contains(key));
  }
  c.a.Stop();
  c.b->Stop();
  int rc = 0;
  const std::string verified = c.Verify(&rc);
  INFO(verified);
  CHECK(rc == 0);
}

TEST_CASE("Both nodes sign checkpoints into one PostgreSQL database, and the public key alone "
          "verifies its export",
          "[e2e][postgres][multinode][checkpoints]") {
  Cluster c(PostgresServer::Shared());
  const std::string conf = Quote(c.a.state() + "/vault.conf");
  int rc = 0;
  const std::string made = Vaultctl("audit-signing-key create --config " + conf, &rc);
  INFO(made);
  REQUIRE(rc == 0);
  const std::size_t begin = made.find("-----BEGIN PUBLIC KEY-----");
  const std::size_t end = made.find("-----END PUBLIC KEY-----");
  REQUIRE(begin != std::string::npos);
  REQUIRE(end != std::string::npos);
  const std::string pem_path = c.a.tmp() + "/pub.pem";
  std::ofstream(pem_path) << made.substr(begin, end + 25 - begin);

  // Audited reads on both nodes until each has looked for the key (within 10 s) and signed.
  const std::string auditor = c.a.Token("aud@example.com", "--roles auditor");
  std::size_t signed_heads = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (signed_heads < 4) {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    REQUIRE(c.a.As(auditor, "GET", "/v1/audit?limit=1").status == 200);
    const HttpResult r = c.b->As(auditor, "GET", "/v1/audit/checkpoints?limit=1000");
    REQUIRE(r.status == 200);
    signed_heads = Json(r.body).as_object().at("checkpoints").as_array().size();
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
  }
  // Both nodes serve the same checkpoints, each naming a distinct record.
  const HttpResult from_a = c.a.As(auditor, "GET", "/v1/audit/checkpoints?limit=2");
  const HttpResult from_b = c.b->As(auditor, "GET", "/v1/audit/checkpoints?limit=2");
  REQUIRE(from_a.status == 200);
  REQUIRE(from_b.status == 200);
  CHECK(Json(from_a.body).as_object().at("checkpoints") ==
        Json(from_b.body).as_object().at("checkpoints"));

  const std::string export_path = c.a.tmp() + "/export.jsonl";
  REQUIRE(Sh(Quote(VaultctlPath()) + " audit export --config " + conf + " --format jsonl > " +
             Quote(export_path)) == 0);
  std::string head;
  REQUIRE(Sh(Quote(VaultctlPath()) + " audit verify --signed-by " + Quote(pem_path) +
                 " --export " + Quote(export_path) + " 2>/dev/null",
             &head) == 0);
  CHECK(head.find(':') != std::string::npos);
  const std::string verified = c.Verify(&rc);
  INFO(verified);
  CHECK(rc == 0);
}

}  // namespace
}  // namespace escrow::e2e
