#pragma once

#include <string>

namespace escrow::bench::loadgen {

// A snapshot of the counters a run's resource figures are deltas of. Reading them is cheap
// (a few /proc files), so the engine takes one at the start and one at the end of the
// measured period. Any counter it cannot read is negative.
struct ProbeSample {
  double server_cpu_s = -1;  // utime + stime of the server process
  double client_cpu_s = -1;  // this process
  double disk_flushes = -1;  // flush requests completed on the disk holding `disk_path`
};

// `server_pid` 0 and an empty `disk_path` skip those counters.
ProbeSample TakeSample(int server_pid, const std::string& disk_path);

// Seconds of CPU that `pid` used (utime + stime of /proc/PID/stat); negative if unreadable.
double ProcessCpuSeconds(int pid);

// Flush requests completed (field 18 of /proc/diskstats, Linux 5.5+) by the block device that
// holds `path`, or by the whole disk when it is a partition; negative if unknown.
double DiskFlushes(const std::string& path);

}  // namespace escrow::bench::loadgen
