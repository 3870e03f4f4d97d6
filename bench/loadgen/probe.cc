#include "bench/loadgen/probe.h"

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace escrow::bench::loadgen {
namespace {

double Seconds(const timeval& tv) {
  return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
}

double SelfCpuSeconds() {
  rusage ru{};
  if (getrusage(RUSAGE_SELF, &ru) != 0) return -1;
  return Seconds(ru.ru_utime) + Seconds(ru.ru_stime);
}

// The flushes field of the /proc/diskstats line for major:minor, or -1.
double FlushesOf(unsigned major_no, unsigned minor_no) {
  std::ifstream in("/proc/diskstats");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    unsigned maj = 0;
    unsigned min = 0;
    std::string name;
    fields >> maj >> min >> name;
    if (maj != major_no || min != minor_no) continue;
    std::vector<double> values;
    double v = 0;
    while (fields >> v) values.push_back(v);
    // After the name: 4 read, 4 write, 3 in-flight/time, 4 discard, then flushes completed.
    return values.size() >= 16 ? values[15] : -1;
  }
  return -1;
}

}  // namespace

double ProcessCpuSeconds(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(in, stat)) return -1;
  // The command name is in parentheses and may contain spaces: count fields after it.
  const std::size_t close = stat.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream fields(stat.substr(close + 2));
  std::string field;
  double utime = 0;
  double stime = 0;
  // Fields 3.. of proc(5); utime is field 14, stime 15.
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14) utime = std::stod(field);
    if (i == 15) stime = std::stod(field);
  }
  const long ticks = sysconf(_SC_CLK_TCK);
  if (ticks <= 0) return -1;
  return (utime + stime) / static_cast<double>(ticks);
}

double DiskFlushes(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return -1;
  const unsigned maj = major(st.st_dev);
  const unsigned min = minor(st.st_dev);
  if (double f = FlushesOf(maj, min); f >= 0) return f;
  // A partition: its flushes are counted on the whole disk, found through sysfs.
  std::ifstream dev("/sys/dev/block/" + std::to_string(maj) + ":" + std::to_string(min) +
                    "/../dev");
  std::string whole;
  if (!std::getline(dev, whole)) return -1;
  const std::size_t colon = whole.find(':');
  if (colon == std::string::npos) return -1;
  return FlushesOf(static_cast<unsigned>(std::stoul(whole.substr(0, colon))),
                   static_cast<unsigned>(std::stoul(whole.substr(colon + 1))));
}

ProbeSample TakeSample(int server_pid, const std::string& disk_path) {
  ProbeSample s;
  if (server_pid > 0) s.server_cpu_s = ProcessCpuSeconds(server_pid);
  s.client_cpu_s = SelfCpuSeconds();
  if (!disk_path.empty()) s.disk_flushes = DiskFlushes(disk_path);
  return s;
}

}  // namespace escrow::bench::loadgen
