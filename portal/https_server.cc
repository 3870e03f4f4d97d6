#include "portal/https_server.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <atomic>
#include <thread>
#include <vector>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "base/host_port.h"
#include "base/log.h"
#include "base/secret_bytes.h"
#include "portal/security_headers.h"

namespace escrow::portal {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

constexpr std::size_t kBodyLimit = std::size_t{16} * 1024;
constexpr std::uint32_t kHeaderLimit = 8 * 1024;
constexpr std::chrono::seconds kHandshakeTimeout{10};
constexpr std::chrono::seconds kReadTimeout{30};
constexpr std::chrono::seconds kIdleTimeout{60};

std::string HeaderValue(const http::request<http::string_body>& req, std::string_view name) {
  auto it = req.find(name);
  return it == req.end() ? std::string() : std::string(it->value());
}

// Serves one TLS connection; members are touched only on its strand.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket&& socket, ssl::context& tls, net::thread_pool& workers, PortalApp& app)
      : stream_(std::move(socket), tls), workers_(workers), app_(app) {}
  Connection(const Connection&) = delete;  // owns a socket
  Connection& operator=(const Connection&) = delete;
  Connection(Connection&&) = delete;
  Connection& operator=(Connection&&) = delete;
  ~Connection() { WipeBuffer(); }

  void Run() {
    net::dispatch(stream_.get_executor(),
                  beast::bind_front_handler(&Connection::OnRun, shared_from_this()));
  }

 private:
  void OnRun() {
    beast::get_lowest_layer(stream_).expires_after(kHandshakeTimeout);
    stream_.async_handshake(ssl::stream_base::server,
                            beast::bind_front_handler(&Connection::OnHandshake,
                                                      shared_from_this()));
  }
  void OnHandshake(beast::error_code ec) {
    if (ec) return;  // scanners and closed tabs: not worth a log line each
    DoRead(kReadTimeout);
  }
  void DoRead(std::chrono::seconds timeout) {
    parser_.emplace();
    parser_->body_limit(kBodyLimit);
    parser_->header_limit(kHeaderLimit);
    // Room for the largest body up front: a body never reallocates, leaving a key behind.
    parser_->get().body().reserve(kBodyLimit + 1);
    beast::get_lowest_layer(stream_).expires_after(timeout);
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&Connection::OnRead, shared_from_this()));
  }
  void OnRead(beast::error_code ec, std::size_t /*bytes*/) {
    if (ec == http::error::body_limit || ec == http::error::header_limit) {
      PortalResponse r = JsonError(413, "payload_too_large", "Request too large.");
      keep_alive_ = false;
      return Write(std::move(r), "?", "?");
    }
    if (ec) return Close();
    http::request<http::string_body>& req = parser_->get();
    PortalRequest request;
    request.method = std::string(req.method_string());
    const std::string_view target = req.target();
    const std::size_t q = target.find('?');
    request.path = std::string(target.substr(0, q));
    if (q != std::string_view::npos) request.query = std::string(target.substr(q + 1));
    request.cookie = HeaderValue(req, "Cookie");
    request.content_type = HeaderValue(req, "Content-Type");
    request.csrf_header = HeaderValue(req, "X-CSRF-Token");
    request.sec_fetch_site = HeaderValue(req, "Sec-Fetch-Site");
    request.origin = HeaderValue(req, "Origin");
    request.body.swap(req.body());
    keep_alive_ = req.keep_alive();
    started_ = std::chrono::steady_clock::now();
    // The app waits on vaultd: run it on a worker, answer on this strand.
    net::post(workers_, [self = shared_from_this(), request = std::move(request)]() mutable {
      PortalResponse response = self->app_.Handle(request);
      Cleanse(request.body.data(), request.body.size());
      net::post(self->stream_.get_executor(),
                [self, response = std::move(response), method = std::move(request.method),
                 path = std::move(request.path)]() mutable {
                  self->Write(std::move(response), method, path);
                });
    });
  }
  void Write(PortalResponse response, const std::string& method, const std::string& path) {
    WipeBuffer();
    sensitive_ = response.sensitive;
    response_ = {};
    response_.result(static_cast<unsigned>(response.status));
    response_.version(11);
    response_.set(http::field::server, "portald");
    response_.set(http::field::content_type, response.content_type);
    for (const auto& [name, value] : SecurityHeaders()) response_.set(name, value);
    for (auto& [name, value] : response.headers) response_.insert(name, value);
    response_.body() = std::move(response.body);
    response_.keep_alive(keep_alive_);
    response_.prepare_payload();
    // One access line; never a body, cookie, token or query (a search names a person).
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - started_)
                        .count();
    LogJson({{"event", "request"},
             {"method", method},
             {"path", path},
             {"status", response.status},
             {"ms", ms}});
    beast::get_lowest_layer(stream_).expires_after(kReadTimeout);
    http::async_write(stream_, response_,
                      beast::bind_front_handler(&Connection::OnWrite, shared_from_this()));
  }
  void OnWrite(beast::error_code ec, std::size_t /*bytes*/) {
    if (sensitive_) {
      Cleanse(response_.body().data(), response_.body().size());
      sensitive_ = false;
    }
    if (ec || !keep_alive_) return Close();
    DoRead(kIdleTimeout);
  }
  void Close() {
    beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(5));
    stream_.async_shutdown([self = shared_from_this()](beast::error_code) {});
  }
  // The read buffer may hold a request body (a key being stored) beyond what was parsed.
  void WipeBuffer() {
    const net::mutable_buffer b = buffer_.data();
    Cleanse(b.data(), b.size());
    if (parser_) {
      std::string& body = parser_->get().body();
      Cleanse(body.data(), body.size());
    }
  }

  beast::ssl_stream<beast::tcp_stream> stream_;
  net::thread_pool& workers_;
  PortalApp& app_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> response_;
  bool sensitive_ = false;
  bool keep_alive_ = false;
  std::chrono::steady_clock::time_point started_;
};

Result<ssl::context> MakeTls(const PortalConfig& config) {
  ssl::context ctx(ssl::context::tls_server);
  SSL_CTX* native = ctx.native_handle();
  ERR_clear_error();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                                  SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_max_early_data(native, 0);
  if (SSL_CTX_use_certificate_chain_file(native, config.tls_cert.c_str()) != 1 ||
      SSL_CTX_use_PrivateKey_file(native, config.tls_key.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(native) != 1) {
    ERR_clear_error();
    return Status::InvalidArgument("tls: cannot use " + config.tls_cert + " and " +
                                   config.tls_key);
  }
  return ctx;
}

}  // namespace

struct HttpsServer::Impl {
  explicit Impl(PortalApp& a, ssl::context t)
      : app(a), tls(std::move(t)), acceptor(net::make_strand(ioc)), signals(ioc, SIGINT, SIGTERM) {}

  void DoAccept() {
    acceptor.async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket s) {
      if (ec) {
        if (ec == net::error::operation_aborted) return;
      } else {
        std::make_shared<Connection>(std::move(s), tls, workers, app)->Run();
      }
      DoAccept();
    });
  }

  PortalApp& app;
  net::io_context ioc;
  ssl::context tls;
  tcp::acceptor acceptor;
  net::signal_set signals;
  net::thread_pool workers{8};
  std::string listen;
};

HttpsServer::HttpsServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpsServer::~HttpsServer() {
  if (impl_) impl_->workers.join();
}

Result<std::unique_ptr<HttpsServer>> HttpsServer::Create(const PortalConfig& config,
                                                         const std::string& listen,
                                                         PortalApp& app) {
  ESCROW_ASSIGN_OR_RETURN(HostPort hp, ParseHostPort(listen, "listen address"));
  ESCROW_ASSIGN_OR_RETURN(ssl::context tls, MakeTls(config));
  auto impl = std::make_unique<Impl>(app, std::move(tls));
  beast::error_code ec;
  const net::ip::address address = net::ip::make_address(hp.host == "localhost" ? "127.0.0.1"
                                                                                : hp.host, ec);
  if (ec) return Status::InvalidArgument("listen address must be an IP address: " + listen);
  const tcp::endpoint endpoint(address, hp.port);
  if (impl->acceptor.open(endpoint.protocol(), ec); ec) {
    return Status::Unavailable("cannot open " + listen + ": " + ec.message());
  }
  (void)impl->acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (impl->acceptor.bind(endpoint, ec); ec) {
    return Status::Unavailable("cannot bind " + listen + ": " + ec.message());
  }
  if (impl->acceptor.listen(net::socket_base::max_listen_connections, ec); ec) {
    return Status::Unavailable("cannot listen on " + listen + ": " + ec.message());
  }
  const tcp::endpoint bound = impl->acceptor.local_endpoint(ec);
  const std::string host = bound.address().to_string();
  impl->listen = (bound.address().is_v6() ? "[" + host + "]" : host) + ":" +
                 std::to_string(bound.port());
  return std::unique_ptr<HttpsServer>(new HttpsServer(std::move(impl)));
}

const std::string& HttpsServer::listen_address() const { return impl_->listen; }

void HttpsServer::Run() {
  impl_->signals.async_wait([this](beast::error_code ec, int /*signal*/) {
    if (!ec) Stop();
  });
  impl_->DoAccept();
  std::thread second([this] { impl_->ioc.run(); });
  impl_->ioc.run();
  second.join();
}

void HttpsServer::Stop() {
  net::post(impl_->acceptor.get_executor(), [this] {
    beast::error_code ignored;
    (void)impl_->acceptor.close(ignored);
    impl_->ioc.stop();
  });
}

}  // namespace escrow::portal
