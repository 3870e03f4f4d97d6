#include "vault/health_monitor.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

namespace escrow::vault {
namespace {

TEST_CASE("HealthMonitor answers from its newest check and checks again on its own",
          "[vault][health]") {
  std::atomic<int> checks{0};
  std::atomic<bool> healthy{true};
  HealthMonitor m(
      [&] {
        ++checks;
        HealthReport r;
        r.ok = healthy;
        if (!r.ok) r.hsm = "unavailable";
        return r;
      },
      std::chrono::milliseconds(20));
  m.Start();
  CHECK(checks >= 1);
  CHECK(m.Current().ok);
  // Current() never runs the check itself.
  const int before = checks;
  for (int i = 0; i < 1000; ++i) (void)m.Current();
  CHECK(checks - before < 1000);
  healthy = false;
  m.Refresh();
  CHECK_FALSE(m.Current().ok);
  CHECK(m.Current().hsm == "unavailable");
  healthy = true;
  // The thread checks again after its interval.
  for (int i = 0; i < 500 && !m.Current().ok; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  CHECK(m.Current().ok);
}

}  // namespace
}  // namespace escrow::vault
