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
  CHECK(checks - before <= 1);  // at most the thread's own check in the meantime
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

TEST_CASE("HealthMonitor checks at once when poked", "[vault][health]") {
  std::atomic<int> checks{0};
  HealthMonitor m(
      [&] {
        ++checks;
        return HealthReport{};
      },
      std::chrono::hours(1));  // no periodic check within this test
  m.Start();
  CHECK(checks == 1);
  m.Poke();
  for (int i = 0; i < 400 && checks == 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  CHECK(checks == 2);
}

TEST_CASE("HealthMonitor reports a check that hangs as unavailable", "[vault][health]") {
  std::atomic<bool> hang{false};
  std::atomic<bool> release{false};
  HealthMonitor m(
      [&] {
        while (hang && !release) std::this_thread::sleep_for(std::chrono::milliseconds(5));
        return HealthReport{};
      },
      std::chrono::milliseconds(50));
  m.Start();
  CHECK(m.Current().ok);
  hang = true;  // the thread's next check never returns (until released)
  for (int i = 0; i < 400 && m.Current().ok; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const HealthReport stale = m.Current();
  CHECK_FALSE(stale.ok);
  CHECK(stale.hsm == "unknown");
  release = true;  // let the thread finish before the monitor is destroyed
}

}  // namespace
}  // namespace escrow::vault
