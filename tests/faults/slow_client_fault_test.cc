#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>
#include <vector>

#include "tests/faults/fault_util.h"
#include "tests/faults/raw_tls.h"

namespace escrow::faults {
namespace {

HttpResult Health(const VaultProcess& v) {
  Call c;
  c.path = "/v1/health";
  return v.Request(c);
}

TEST_CASE("Hundreds of idle and slow-trickling connections neither starve other clients nor "
          "outlive the server's timeouts",
          "[faults][slowloris][slow]") {
  VaultProcess v;
  const std::string conf = v.state() + "/vault.conf";
  SetConf(conf, "server", "handshake_timeout_ms", "1500");
  SetConf(conf, "server", "read_timeout_ms", "1500");
  SetConf(conf, "server", "idle_timeout_ms", "3000");
  // All from one address: this test is about the timeouts, not the per-address cap.
  SetConf(conf, "server", "max_unmapped_connections_per_address", "0");
  REQUIRE(v.Start());
  IgnoreSigpipe sigpipe;

  // 300 connections that never say anything, 20 that trickle a ClientHello a byte at a time,
  // and 10 that finish the handshake and then trickle a request header a byte at a time.
  std::vector<int> idle, trickle;
  for (int i = 0; i < 300; ++i) {
    const int fd = ConnectTcp(v.port());
    REQUIRE(fd >= 0);
    idle.push_back(fd);
  }
  for (int i = 0; i < 20; ++i) {
    const int fd = ConnectTcp(v.port());
    REQUIRE(fd >= 0);
    trickle.push_back(fd);
  }
  const TlsClientContext ctx(v.CaFile());
  std::vector<TlsConn> slow;
  slow.reserve(10);
  for (int i = 0; i < 10; ++i) {
    slow.emplace_back(ctx, v.port());
    REQUIRE(slow.back().ok());
  }

  std::atomic<bool> stop{false};
  std::atomic<int> tls_cut{0};
  std::thread trickler([&] {
    // The start of a ClientHello, NULs included (a plain std::string would stop at the first).
    constexpr char kHello[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03";
    const std::string hello(kHello, sizeof kHello - 1);
    const std::string header = "GET /v1/health HTTP/1.1\r\nHost: localhost\r\nX-Slow: ";
    std::vector<bool> cut(slow.size(), false);
    for (std::size_t step = 0; !stop; ++step) {
      for (int fd : trickle) send(fd, &hello[step % hello.size()], 1, MSG_NOSIGNAL);
      for (std::size_t i = 0; i < slow.size(); ++i) {
        if (cut[i]) continue;
        const char byte = step < header.size() ? header[step] : 'a';
        if (SSL_write(slow[i].ssl(), &byte, 1) != 1) {
          cut[i] = true;
          ++tls_cut;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  });

  // Meanwhile other clients are served, anonymous and with a certificate.
  const auto started = std::chrono::steady_clock::now();
  const HttpResult health = Health(v);
  CHECK(health.status == 200);
  const HttpResult mdm = v.Mdm("GET", "/v1/metrics");
  CHECK(mdm.status == 200);
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(10));

  // The server cuts every one of them after its handshake or read timeout.
  CHECK(WaitFor([&] { return CountClosed(idle) == idle.size(); }, std::chrono::seconds(20)));
  CHECK(WaitFor([&] { return CountClosed(trickle) == trickle.size(); },
                std::chrono::seconds(20)));
  CHECK(WaitFor([&] { return tls_cut == static_cast<int>(slow.size()); },
                std::chrono::seconds(20)));
  stop = true;
  trickler.join();
  for (int fd : idle) close(fd);
  for (int fd : trickle) close(fd);
  slow.clear();
  CHECK(Health(v).status == 200);
  CHECK(v.running());
}

TEST_CASE("Past max_connections new connections are refused at once and service returns when "
          "the idle ones time out",
          "[faults][slowloris]") {
  VaultProcess v;
  const std::string conf = v.state() + "/vault.conf";
  SetConf(conf, "server", "max_connections", "50");
  SetConf(conf, "server", "max_unmapped_connections_per_address", "0");
  SetConf(conf, "server", "handshake_timeout_ms", "1500");
  REQUIRE(v.Start());
  std::vector<int> fds;
  for (int i = 0; i < 100; ++i) {
    const int fd = ConnectTcp(v.port());
    REQUIRE(fd >= 0);
    fds.push_back(fd);
  }
  // The 50 past the limit are closed at once (not queued behind the others).
  CHECK(WaitFor([&] { return CountClosed(fds) >= 50; }, std::chrono::seconds(5)));
  // Every one is gone after the handshake timeout, and a real client gets through.
  CHECK(WaitFor([&] { return CountClosed(fds) == fds.size(); }, std::chrono::seconds(20)));
  CHECK(WaitFor([&] { return Health(v).status == 200; }, std::chrono::seconds(20)));
  for (int fd : fds) close(fd);
  CHECK(v.running());
}

}  // namespace
}  // namespace escrow::faults
