// loadgen: the vault's load generator and bench report (docs/benchmarks.md).
//
//   loadgen run --target 127.0.0.1:PORT --state-dir DIR --mix status=90,store=10
//               --connections 16 --duration 10 [--warmup 1] [--json FILE]
//   loadgen report --dir RESULTS --json bench-results.json
//
// `run` drives HTTPS keep-alive connections with client certificates against a vaultd on a
// loopback address (any other target is refused) and prints requests/s, p50/p95/p99 latency
// and errors as a table and, with --json, as JSON. `report` turns a bench run's result files
// into the one table that scripts/bench.sh prints. Exit codes: 0 ok, 1 failed, 2 bad usage.
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include <boost/json/serialize.hpp>

#include "base/host_port.h"
#include "bench/loadgen/engine.h"
#include "bench/loadgen/options.h"
#include "bench/loadgen/report.h"
#include <CLI/CLI.hpp>

namespace {

namespace fs = std::filesystem;
namespace lg = escrow::bench::loadgen;

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

int Fail(const escrow::Status& s, int code = kExitFailed) {
  std::cerr << "loadgen: " << s.message() << "\n";
  return code;
}

bool ReadToken(const std::string& path, std::string& out) {
  std::ifstream in(path);
  if (!std::getline(in, out)) return false;
  while (!out.empty() && (out.back() == '\r' || out.back() == ' ')) out.pop_back();
  return !out.empty();
}

// Fills certificate paths from a dev state directory (API.md "vaultctl init --dev"), unless
// they were given explicitly.
void FromStateDir(const fs::path& dir, lg::Options& o) {
  if (o.ca.empty()) o.ca = (dir / "tls" / "ca.crt").string();
  if (o.mdm.cert.empty()) o.mdm.cert = (dir / "tls" / "clients" / "mdm.crt").string();
  if (o.mdm.key.empty()) o.mdm.key = (dir / "tls" / "clients" / "mdm.key").string();
  if (o.portal.cert.empty()) o.portal.cert = (dir / "tls" / "clients" / "portal.crt").string();
  if (o.portal.key.empty()) o.portal.key = (dir / "tls" / "clients" / "portal.key").string();
  if (o.disk_path.empty()) o.disk_path = (dir / "vault.db").string();
}

int DoRun(lg::Options o, const std::string& target, const std::string& mix,
          const std::string& state_dir, const std::string& token_file) {
  escrow::Result<escrow::HostPort> hp = escrow::ParseHostPort(target);
  if (!hp.ok()) {
    return Fail(escrow::Status::InvalidArgument("--target must be HOST:PORT"), kExitUsage);
  }
  o.host = hp->host;
  o.port = std::to_string(hp->port);
  escrow::Result<std::vector<lg::MixEntry>> parsed = lg::ParseMix(mix);
  if (!parsed.ok()) return Fail(parsed.status(), kExitUsage);
  o.mix = *parsed;
  if (!state_dir.empty()) FromStateDir(state_dir, o);
  if (!token_file.empty() && !ReadToken(token_file, o.token)) {
    return Fail(escrow::Status::InvalidArgument("cannot read a token from " + token_file),
                kExitUsage);
  }
  if (escrow::Status s = lg::Validate(o); !s.ok()) return Fail(s, kExitUsage);
  escrow::Result<lg::RunResult> result = lg::Run(o);
  if (!result.ok()) return Fail(result.status());
  result->label = o.label;
  result->mix = mix;
  if (!o.quiet) std::cout << lg::ToTable(*result) << std::flush;
  if (!o.json_path.empty()) {
    const std::string json = boost::json::serialize(lg::ToJson(*result)) + "\n";
    if (o.json_path == "-") {
      std::cout << json;
    } else {
      std::ofstream out(o.json_path);
      out << json;
      if (!out) return Fail(escrow::Status::Unavailable("cannot write " + o.json_path));
    }
  }
  if (result->envelopes.ran_out) {
    // An envelope is never sent twice (the vault would refuse it or store nothing new).
    return Fail(escrow::Status::FailedPrecondition(
        "the " + std::to_string(result->envelopes.made) +
        " CMS envelopes ran out and the run stopped early: give a larger --cms-envelopes"));
  }
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) try {
  CLI::App app{"Load generator and bench report for the escrow vault"};
  app.require_subcommand(1);

  lg::Options o;
  std::string target;
  std::string mix;
  std::string state_dir;
  std::string token_file;
  CLI::App* run = app.add_subcommand("run", "Drive load against a loopback vaultd");
  run->add_option("--target", target, "HOST:PORT of vaultd (loopback only)")->required();
  run->add_option("--also-port", o.also_ports,
                  "another vaultd node on the same host (repeatable): connections are spread "
                  "over the nodes in turn");
  run->add_option("--mix", mix,
                  "ops with weights: store, retrieve, status, enroll, store_cms "
                  "(e.g. status=90,store=10)")
      ->required();
  run->add_option("--state-dir", state_dir, "dev state dir: takes CA and client certs from it");
  run->add_option("--ca", o.ca, "CA certificate of the server");
  run->add_option("--mdm-cert", o.mdm.cert, "mdm client certificate");
  run->add_option("--mdm-key", o.mdm.key, "mdm client key");
  run->add_option("--portal-cert", o.portal.cert, "frontend client certificate");
  run->add_option("--portal-key", o.portal.key, "frontend client key");
  run->add_option("--token-file", token_file, "file holding the owner's bearer JWT");
  run->add_option("--owner", o.owner, "owner of enrolled devices (the JWT subject)");
  run->add_option("--connections,-c", o.connections, "concurrent connections");
  run->add_option("--threads", o.threads, "io threads of the generator");
  run->add_option("--duration,-d", o.duration_s, "seconds to measure (after the warm-up)");
  run->add_option("--requests,-n", o.requests, "total requests (warm-up included)");
  run->add_option("--warmup", o.warmup_s, "seconds of unrecorded warm-up");
  run->add_option("--warmup-requests", o.warmup_requests,
                  "or: this many first requests are not recorded");
  run->add_option("--cms-envelopes", o.cms_envelopes,
                  "store_cms: envelopes to make before the run, one per request "
                  "(default: --requests); the run stops if they run out");
  run->add_option("--device-prefix", o.device_prefix, "device ids are PREFIX000000...");
  run->add_option("--devices", o.devices, "number of devices to spread requests over");
  run->add_option("--device-offset", o.device_offset, "first device index for enroll");
  run->add_flag("--status-as-portal", o.status_as_portal,
                "read status as the owner through the frontend client, not as mdm");
  run->add_option("--server-pid", o.server_pid, "vaultd's pid, for server CPU per request");
  run->add_option("--disk-path", o.disk_path, "count disk flushes of the device holding this");
  run->add_option("--label", o.label, "scenario name for the table and JSON");
  run->add_option("--json", o.json_path, "write the result as JSON to FILE ('-': stdout)");
  run->add_flag("--quiet,-q", o.quiet, "no table on stdout");

  std::string dir;
  std::string report_json;
  CLI::App* report = app.add_subcommand("report", "Print the bench table from a results dir");
  report->add_option("--dir", dir, "directory written by scripts/bench.sh")->required();
  report->add_option("--json", report_json, "also write the combined JSON here");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitUsage;
  }
  if (run->parsed()) return DoRun(o, target, mix, state_dir, token_file);
  escrow::Result<lg::Report> r = lg::BuildReport(dir);
  if (!r.ok()) return Fail(r.status());
  std::cout << r->table << std::flush;
  if (!report_json.empty()) {
    std::ofstream out(report_json);
    out << r->json << "\n";
    if (!out) return Fail(escrow::Status::Unavailable("cannot write " + report_json));
  }
  return kExitOk;
} catch (const std::exception& e) {
  std::cerr << "loadgen: " << e.what() << "\n";
  return kExitFailed;
}
