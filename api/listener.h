#pragma once

// Private to api/: Asio types.

#include <memory>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "api/server_context.h"
#include "base/status.h"

namespace escrow::api {

// Accepts connections and starts an HttpsSession on its own strand for each, up to the
// connection cap (past it, new connections are closed at once). Lives as long as its pending
// accept holds it.
class Listener : public std::enable_shared_from_this<Listener> {
 public:
  Listener(boost::asio::io_context& ioc, ServerContext& ctx);
  Listener(const Listener&) = delete;  // owns the acceptor
  Listener& operator=(const Listener&) = delete;
  Listener(Listener&&) = delete;  // shared_from_this: async work holds its address
  Listener& operator=(Listener&&) = delete;
  ~Listener() = default;

  // Opens, binds and listens. kUnavailable naming the address on failure.
  Status Bind(const boost::asio::ip::tcp::endpoint& endpoint);
  boost::asio::ip::tcp::endpoint local_endpoint() const;
  void Run();
  // Thread-safe: stop accepting.
  void Stop();

 private:
  void DoAccept();
  void OnAccept(boost::system::error_code ec, boost::asio::ip::tcp::socket socket);

  boost::asio::io_context& ioc_;
  ServerContext& ctx_;
  boost::asio::ip::tcp::acceptor acceptor_;
  // The peer of the accept in flight (one at a time, on the acceptor's strand). Filled by
  // accept() itself: getpeername is not in the seccomp allowlist, and needs no adding.
  boost::asio::ip::tcp::endpoint peer_;
};

}  // namespace escrow::api
