#include "base/log.h"

#include <cstdio>
#include <mutex>
#include <string>

#include <boost/json/serialize.hpp>

namespace escrow {
namespace {
std::mutex& LogMutex() {
  static std::mutex mu;
  return mu;
}
}  // namespace

void LogJson(const boost::json::object& event) {
  std::string line = boost::json::serialize(event);
  line.push_back('\n');
  std::lock_guard lock(LogMutex());
  // A log line that cannot be written has nowhere else to go: the results are ignored.
  (void)std::fwrite(line.data(), 1, line.size(), stderr);
  (void)std::fflush(stderr);
}

void LogError(std::string_view event, std::string_view error) {
  boost::json::object o;
  o["event"] = event;
  o["error"] = error;
  LogJson(o);
}

void LogInfo(std::string_view event, std::string_view message) {
  boost::json::object o;
  o["event"] = event;
  o["message"] = message;
  LogJson(o);
}

}  // namespace escrow
