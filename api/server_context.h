#pragma once

// Private to api/: what every session and the listener share.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/thread_pool.hpp>

#include "api/client_registry.h"
#include "api/metrics.h"
#include "api/request_handler.h"

namespace escrow::api {

class HttpsSession;

// The live sessions, so that a drain can reach the idle ones. Thread-safe.
class SessionRegistry {
 public:
  std::uint64_t Add(std::weak_ptr<HttpsSession> session);
  void Remove(std::uint64_t id);
  std::size_t size() const;
  std::vector<std::shared_ptr<HttpsSession>> Snapshot() const;

 private:
  mutable std::mutex mu_;
  std::uint64_t next_ = 1;
  std::unordered_map<std::uint64_t, std::weak_ptr<HttpsSession>> sessions_;
};

// Open connections per remote address that have not presented a mapped client certificate
// (still shaking hands, no certificate, or one that maps to no client). Bounded by the open
// connections: an address leaves the map with its last one. Thread-safe.
class UnmappedConnections {
 public:
  // IPv4 as v4-mapped; IPv6 by its /64.
  using Address = boost::asio::ip::address_v6::bytes_type;
  static Address Key(const boost::asio::ip::address& address);

  // Counts one more connection from `address`, unless `cap` are open already (cap 0: no cap).
  bool TryAdd(const Address& address, std::size_t cap);
  void Remove(const Address& address);
  std::size_t CountFor(const Address& address) const;

 private:
  mutable std::mutex mu_;
  std::map<Address, std::size_t> open_;
};

struct Timeouts {
  std::chrono::milliseconds handshake{10000};
  std::chrono::milliseconds read{10000};
  std::chrono::milliseconds idle{60000};
  std::chrono::milliseconds write{10000};
};

// Owned by the server; outlives every session and every worker job.
struct ServerContext {
  boost::asio::ssl::context& tls;
  boost::asio::thread_pool& workers;
  RequestHandler& handler;
  const ClientRegistry& clients;
  Metrics& metrics;
  SessionRegistry& sessions;
  UnmappedConnections& unmapped;
  Timeouts timeouts;
  std::size_t max_connections = 1024;
  std::size_t max_unmapped_per_address = 64;  // 0: no cap
  std::atomic<bool> draining{false};
};

}  // namespace escrow::api
