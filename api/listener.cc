#include "api/listener.h"

#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/bind_handler.hpp>

#include "api/https_session.h"
#include "base/log.h"

namespace escrow::api {
namespace net = boost::asio;
using tcp = net::ip::tcp;

Listener::Listener(net::io_context& ioc, ServerContext& ctx)
    : ioc_(ioc), ctx_(ctx), acceptor_(net::make_strand(ioc)) {}

Status Listener::Bind(const tcp::endpoint& endpoint) {
  boost::system::error_code ec;
  const std::string where = endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
  acceptor_.open(endpoint.protocol(), ec);
  if (ec) {
    return Status::Unavailable("listen " + where + ": open: " + ec.message());
  }
  acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  if (ec) {
    return Status::Unavailable("listen " + where + ": set_option: " + ec.message());
  }
  acceptor_.bind(endpoint, ec);
  if (ec) {
    return Status::Unavailable("listen " + where + ": bind: " + ec.message());
  }
  acceptor_.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    return Status::Unavailable("listen " + where + ": listen: " + ec.message());
  }
  return Status::Ok();
}

tcp::endpoint Listener::local_endpoint() const {
  boost::system::error_code ec;
  return acceptor_.local_endpoint(ec);
}

void Listener::Run() { DoAccept(); }

void Listener::Stop() {
  net::post(acceptor_.get_executor(), [self = shared_from_this()] {
    boost::system::error_code ignored;
    self->acceptor_.close(ignored);
  });
}

void Listener::DoAccept() {
  acceptor_.async_accept(net::make_strand(ioc_), peer_,
                         boost::beast::bind_front_handler(&Listener::OnAccept, shared_from_this()));
}

void Listener::OnAccept(boost::system::error_code ec, tcp::socket socket) {
  if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;
  if (ec) {
    LogError("accept", ec.message());
  } else if (ctx_.draining) {
    return;
  } else if (ctx_.sessions.size() >= ctx_.max_connections) {
    ctx_.metrics.ConnectionRefused();
    boost::system::error_code ignored;
    socket.close(ignored);
  } else {
    // Until it presents a mapped client certificate, a connection counts against its address.
    const UnmappedConnections::Address from = UnmappedConnections::Key(peer_.address());
    boost::system::error_code ignored;
    if (!ctx_.unmapped.TryAdd(from, ctx_.max_unmapped_per_address)) {
      ctx_.metrics.ConnectionRefusedPerAddress();
      socket.close(ignored);
    } else {
      socket.set_option(tcp::no_delay(true), ignored);
      std::make_shared<HttpsSession>(std::move(socket), ctx_, from)->Run();
    }
  }
  DoAccept();
}

}  // namespace escrow::api
