#include <catch2/catch.hpp>

#include <signal.h>

#include <atomic>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "tests/faults/fault_util.h"

namespace escrow::faults {
namespace {

struct Acked {
  std::string key;
  std::uint32_t version = 0;
};

TEST_CASE("Every store answered 2xx before a kill -9 reads back after restart, with a sound "
          "database and audit chain",
          "[faults][crash][slow]") {
  VaultProcess v;
  const std::string conf = v.state() + "/vault.conf";
  SetConf(conf, "limits", "retrieve_per_user", "{ count = 0, window_seconds = 60 }");
  SetConf(conf, "policy", "daily_quota", "0");
  REQUIRE(v.Start());

  constexpr int kWriters = 6;
  for (int t = 0; t < kWriters; ++t) v.Enrol("crash-" + std::to_string(t), "alice", "corporate");

  std::mutex mu;
  std::map<std::string, std::vector<Acked>> acked;  // device -> stores answered 200
  std::atomic<int> answered{0};
  std::atomic<bool> killed{false};
  std::vector<std::thread> writers;
  for (int t = 0; t < kWriters; ++t) {
    writers.emplace_back([&, t] {
      const std::string id = "crash-" + std::to_string(t);
      for (int n = 0; n < 200 && !killed; ++n) {
        const std::string key = MacKey(t * 1000 + n);
        const HttpResult r =
            v.Mdm("PUT", "/v1/devices/" + id + "/recovery-key", MdmKeyBody(key));
        if (r.status == 0) break;  // the server is gone
        if (r.status != 200) continue;
        const boost::json::value j = Json(r.body);
        if (!j.is_object() || !j.as_object().contains("version")) continue;
        std::lock_guard<std::mutex> lock(mu);
        acked[id].push_back({key, static_cast<std::uint32_t>(j.at("version").to_number<int>())});
        ++answered;
      }
    });
  }
  // Kill once a good number of stores were acknowledged, while the writers keep going.
  REQUIRE(WaitFor([&] { return answered >= 24; }, std::chrono::seconds(90)));
  killed = true;
  REQUIRE(v.Stop(SIGKILL) == -1);
  for (std::thread& w : writers) w.join();

  // Nothing of SQLite's own is broken by the kill.
  CHECK(IntegrityCheck(DbPath(v)) == "ok");

  REQUIRE(v.Start());
  const std::string admin = v.Token("ada", "--roles admin");
  int checked = 0;
  for (const auto& [id, stores] : acked) {
    for (const Acked& a : stores) {
      const HttpResult r = v.As(admin, "POST", "/v1/devices/" + id + "/recovery-key/retrieve",
                                R"({"reason":"crash test","version":)" +
                                    std::to_string(a.version) + "}");
      INFO(id << " v" << a.version << ": " << r.status << " " << r.body);
      REQUIRE(r.status == 200);
      CHECK(Json(r.body).at("recovery_key").as_string() == a.key);
      ++checked;
    }
  }
  CHECK(checked == answered);
  std::string verify;
  CHECK(AuditVerifies(v, &verify));
  INFO(verify);
  REQUIRE(v.Stop() == 0);
  CHECK(IntegrityCheck(DbPath(v)) == "ok");
}

}  // namespace
}  // namespace escrow::faults
