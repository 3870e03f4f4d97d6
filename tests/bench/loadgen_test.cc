// The bench's arithmetic (bench/loadgen/stats, bench/loadgen/report): percentiles, and each
// vault figure related to the ceiling that bounds it. Pure logic on hand-made inputs, so that
// a wrong formula shows here and not as a misleading table.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <boost/json/parse.hpp>

#include "bench/loadgen/options.h"
#include "bench/loadgen/report.h"
#include "bench/loadgen/stats.h"
#include "tests/support/temp_dir.h"

namespace escrow::bench::loadgen {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

void Write(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

double At(const json::value& v, std::initializer_list<std::string_view> path) {
  const json::value* at = &v;
  for (std::string_view key : path) at = &at->as_object().at(key);
  return at->to_number<double>();
}

TEST_CASE("Latency percentiles are nearest-rank, in milliseconds", "[tools][loadgen]") {
  std::vector<std::uint32_t> us;
  for (std::uint32_t i = 100; i >= 1; --i) us.push_back(i * 1000);  // 1..100 ms, reversed
  const Summary s = Summarise(us);
  CHECK(s.count == 100);
  CHECK(s.p50 == Approx(50.0));
  CHECK(s.p95 == Approx(95.0));
  CHECK(s.p99 == Approx(99.0));
  CHECK(s.max == Approx(100.0));
  CHECK(s.mean == Approx(50.5));
  CHECK(Summarise({}).count == 0);
  const Summary one = Summarise({1500});
  CHECK(one.p50 == Approx(1.5));
  CHECK(one.p99 == Approx(1.5));
}

TEST_CASE("Non-2xx answers and transport failures count as errors", "[tools][loadgen]") {
  OpStats a;
  a.Record(200, std::chrono::milliseconds(1));
  a.Record(503, std::chrono::milliseconds(2));
  OpStats b;
  b.Record(kTransportError, std::chrono::milliseconds(3));
  b.Record(204, std::chrono::milliseconds(4));
  a.Merge(b);
  CHECK(a.latency_us.size() == 4);
  CHECK(a.errors == 2);
  CHECK(a.statuses.at(200) == 1);
  CHECK(a.statuses.at(kTransportError) == 1);
}

TEST_CASE("The report bounds each scenario by its HSM operations and the commit rate",
          "[tools][loadgen]") {
  testing::TempDir dir;
  const fs::path root = dir.path();
  // 10,000 ops/s for each HSM operation; 100,000 grouped rows/s.
  Write(root / "hsm.json",
        R"({"encrypt_1t": 10000, "decrypt_1t": 10000, "hmac_1t": 10000, "encrypt_2t": 9000,
            "decrypt_2t": 9000, "hmac_2t": 9000, "token_encrypt_1t": 5000,
            "token_decrypt_1t": 5000, "token_hmac_1t": 5000})");
  Write(root / "sqlite.json",
        R"({"single_commits_per_s": 1000, "grouped_commits_per_s": 3125,
            "grouped_rows_per_s": 100000, "grouped_rows_per_commit": 32, "fsync_per_s": 2000})");
  // 1,000 stores at 2,000/s, 4 audit records per MAC; vaultd 0.4 ms and loadgen 0.1 ms of
  // CPU per request on 2 cores.
  Write(root / "runs/01-store.json",
        R"({"label": "store", "connections": 16, "requests_per_s": 2000, "errors": 0,
            "latency": {"p50_ms": 1, "p95_ms": 2, "p99_ms": 3},
            "ops": {"store": {"requests": 1000}},
            "resources": {"server_cpu_ms_per_request": 0.4, "client_cpu_ms_per_request": 0.1,
                          "cores": 2}})");
  Write(root / "runs/01-store.audit.json", R"({"records": 1000, "macs": 250})");
  // Retrieves without audit counts: the MAC is charged to every request.
  Write(root / "runs/02-retrieve.json",
        R"({"label": "retrieve", "connections": 1, "requests_per_s": 1000, "errors": 0,
            "latency": {"p50_ms": 1, "p95_ms": 2, "p99_ms": 3},
            "ops": {"retrieve": {"requests": 500}}, "resources": {}})");
  Write(root / "rotation.json", R"({"available": true, "ok": true, "records": 1000,
                                    "seconds": 0.5})");

  Result<Report> report = BuildReport(root.string());
  INFO(report.status().ToString());
  REQUIRE(report.ok());
  const json::value out = json::parse(report->json);
  const json::array& rows = out.at("scenarios").as_array();
  REQUIRE(rows.size() == 3);

  // store: decrypt + encrypt + a quarter of a MAC = 225 us -> 4,444/s; 2,000/s is 45%.
  CHECK(At(rows[0], {"hsm_term_per_s"}) == Approx(1e6 / 225));
  CHECK(At(rows[0], {"commit_term_per_s"}) == Approx(100000));
  CHECK(At(rows[0], {"ceiling_per_s"}) == Approx(1e6 / 225));
  CHECK(At(rows[0], {"fraction_of_ceiling"}) == Approx(0.45));
  CHECK(At(rows[0], {"audit_records_per_mac"}) == Approx(4));
  CHECK(At(rows[0], {"cpu_ceiling_per_s"}) == Approx(2 * 1000 / 0.5));
  // overhead: 0.4 ms of vaultd CPU over the 0.225 ms of HSM time a store needs.
  CHECK(At(rows[0], {"hsm_ms_per_request"}) == Approx(0.225));
  CHECK(At(rows[0], {"overhead"}) == Approx(0.4 / 0.225));
  CHECK_THAT(report->table, Catch::Contains("1.8x"));
  CHECK_THAT(report->table, Catch::Contains("overhead"));
  // retrieve: decrypt + a whole MAC = 200 us -> 5,000/s; 1,000/s is 20%.
  CHECK(At(rows[1], {"hsm_term_per_s"}) == Approx(5000));
  CHECK(At(rows[1], {"fraction_of_ceiling"}) == Approx(0.2));
  CHECK_FALSE(rows[1].as_object().contains("overhead"));  // no CPU figure, no overhead
  // rotation: 2,000 records/s against decrypt + encrypt = 5,000/s.
  CHECK(At(rows[2], {"ceiling_per_s"}) == Approx(5000));
  CHECK(At(rows[2], {"fraction_of_ceiling"}) == Approx(0.4));

  CHECK(At(out, {"ceilings", "hsm_token_object_aes_gcm_encrypt_ops_per_s_1_thread"}) ==
        Approx(5000));
  CHECK_THAT(report->table, Catch::Contains("45.0%"));
  CHECK_THAT(report->table, Catch::Contains("session copies"));
  CHECK_THAT(report->table, Catch::Contains("master-key rotation, 1,000 records"));
}

TEST_CASE("A report without ceilings says n/a, and one without runs is refused",
          "[tools][loadgen]") {
  testing::TempDir dir;
  const fs::path root = dir.path();
  CHECK(BuildReport(root.string()).status().code() == Code::kNotFound);
  Write(root / "runs/01-status.json",
        R"({"label": "status", "connections": 1, "requests_per_s": 10, "errors": 0,
            "latency": {}, "ops": {"status": {"requests": 10}}, "resources": {}})");
  Result<Report> report = BuildReport(root.string());
  REQUIRE(report.ok());
  const json::value out = json::parse(report->json);
  CHECK_FALSE(out.at("scenarios").as_array()[0].as_object().contains("ceiling_per_s"));
  CHECK_THAT(report->table, Catch::Contains("n/a"));
  Write(root / "runs/02-bad.json", "not json");
  CHECK(BuildReport(root.string()).status().code() == Code::kInvalidArgument);
}

TEST_CASE("More nodes are port numbers on the target's host", "[tools][loadgen]") {
  Options o;
  o.port = "8443";
  o.ca = "ca.crt";
  o.duration_s = 1;
  o.also_ports = {"8445"};
  CHECK(Validate(o).ok());
  for (const char* bad : {"", "0", "65536", "84a", "-1", "123456"}) {
    o.also_ports = {"8445", bad};
    INFO(bad);
    CHECK(Validate(o).code() == Code::kInvalidArgument);
  }
}

}  // namespace
}  // namespace escrow::bench::loadgen
