#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"
#include "base/status.h"

namespace escrow::bench::loadgen {

// The request kinds the generator drives (API.md "Endpoints"). kEnroll is the seeding
// step: enrol, check in and store a first key for one device, each device exactly once.
// kStoreCms stores through PUT .../recovery-key/cms (API.md "Apple MDM escrow"), each request
// with its own envelope, made before the run (Options::cms_envelopes).
enum class Op : std::uint8_t { kStore, kRetrieve, kStatus, kEnroll, kStoreCms };
inline constexpr int kOpCount = 5;
// About 600 bytes of request body each, all held in memory for the run.
inline constexpr std::uint64_t kMaxCmsEnvelopes = 500'000;

std::string_view OpName(Op op);
Result<Op> ParseOp(std::string_view name);

// A client certificate and its key (PEM files).
struct Identity {
  std::string cert;
  std::string key;
};

// One weighted entry of a request mix: `status=90,store=10`.
struct MixEntry {
  Op op = Op::kStatus;
  std::uint32_t weight = 0;
};

// Everything one `loadgen run` needs. Filled by the command line, checked by Validate().
struct Options {
  std::string host = "127.0.0.1";
  std::string port;
  // More vaultd nodes on the same host (`--also-port`): connection i goes to node i mod n,
  // port first. One run then loads several nodes with one clock and one set of statistics.
  std::vector<std::string> also_ports;
  std::string ca;     // CA that signed the server certificate
  Identity mdm;       // store, status, enroll
  Identity portal;    // retrieve (with `token`)
  std::string token;  // bearer JWT whose subject owns the devices
  std::string owner = "bench-user";
  std::vector<MixEntry> mix;
  std::uint32_t connections = 1;
  std::uint32_t threads = 1;          // io threads of the generator itself
  double duration_s = 0;              // 0: until `requests` are done
  std::uint64_t requests = 0;         // 0: until `duration_s` is over
  double warmup_s = 0;                // requests in this first period are not recorded
  std::uint64_t warmup_requests = 0;  // or: the first N requests are not recorded
  // store_cms: how many envelopes to make before the run, one per request, never reused (the
  // vault refuses an envelope replayed for another device). The run stops when they run out.
  // 0: as many as --requests.
  std::uint64_t cms_envelopes = 0;
  std::string device_prefix = "bench-";
  std::uint32_t devices = 1000;     // ids prefix000000 .. prefix(devices-1)
  std::uint32_t device_offset = 0;  // first index for kEnroll
  bool status_as_portal = false;    // status via the portal (owner) instead of mdm
  int server_pid = 0;               // for server CPU from /proc/PID/stat
  std::string disk_path;            // a file whose device's flushes are counted
  std::string label;                // scenario name written into the JSON
  std::string json_path;            // write the result here ("-": stdout)
  bool quiet = false;               // no table on stdout
};

// Checks the option combination and that every address `host` resolves to is loopback:
// the generator never sends load anywhere else. kInvalidArgument or kPermissionDenied.
Status Validate(const Options& options);

// Parses `status=90,store=10` (or a bare op name, weight 100). kInvalidArgument.
Result<std::vector<MixEntry>> ParseMix(std::string_view spec);

// True when every address `host` resolves to is in 127.0.0.0/8 or is ::1.
Result<bool> ResolvesToLoopbackOnly(const std::string& host);

std::string DeviceId(std::string_view prefix, std::uint32_t index);

}  // namespace escrow::bench::loadgen
