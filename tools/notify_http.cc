#include "tools/notify_http.h"

#include <exception>
#include <optional>
#include <utility>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <openssl/ssl.h>

#include "base/host_port.h"

namespace escrow::tools {
namespace {

namespace net = boost::asio;
namespace ssl = net::ssl;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using ErrorCode = boost::system::error_code;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;
constexpr auto kTuple = net::as_tuple(net::use_awaitable);
constexpr std::uint64_t kMaxBodyBytes = std::uint64_t{16} << 20;
constexpr auto kStopPoll = std::chrono::milliseconds(100);

Result<std::unique_ptr<ssl::context>> MakeTlsContext(const TlsFiles& files) {
  auto ctx = std::make_unique<ssl::context>(ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  ErrorCode ec;
  ctx->set_verify_mode(ssl::verify_peer, ec);
  if (ec) return Status::Internal("TLS verify mode: " + ec.message());
  if (files.ca.empty()) {
    ctx->set_default_verify_paths(ec);
  } else {
    ctx->load_verify_file(files.ca, ec);
  }
  if (ec) return Status::InvalidArgument("CA " + files.ca + ": " + ec.message());
  if (files.cert.empty()) return ctx;
  ctx->use_certificate_chain_file(files.cert, ec);
  if (ec) return Status::InvalidArgument("certificate " + files.cert + ": " + ec.message());
  ctx->use_private_key_file(files.key, ssl::context::pem, ec);
  if (ec) return Status::InvalidArgument("key " + files.key + ": " + ec.message());
  return ctx;
}

class BeastClient final : public HttpClient {
 public:
  BeastClient(Url url, std::unique_ptr<ssl::context> ctx, std::chrono::milliseconds timeout,
              const std::atomic<bool>& stop)
      : url_(std::move(url)), ctx_(std::move(ctx)), timeout_(timeout), stop_(stop) {}

  Result<HttpReply> Send(std::string_view method, std::string_view target, std::string body,
                         const Headers& headers) override;

 private:
  // Each coroutine leaves the failed step's name in step_ for the error message.
  net::awaitable<ErrorCode> Connect();
  template <class Stream>
  net::awaitable<ErrorCode> Exchange(Stream& stream, http::request<http::string_body>& req);
  net::awaitable<ErrorCode> Attempt(http::request<http::string_body>& req);
  // Runs the io_context until `attempt` finishes, closing the connection if stop_ is set.
  ErrorCode RunUntilDone(http::request<http::string_body>& req);
  bool connected() const { return plain_ != nullptr || tls_ != nullptr; }
  beast::tcp_stream& lowest() { return tls_ ? beast::get_lowest_layer(*tls_) : *plain_; }
  // Cancels what is pending (its handlers still run); Drop() also forgets the connection.
  void Close();
  void Drop();

  Url url_;
  std::unique_ptr<ssl::context> ctx_;  // null for http
  std::chrono::milliseconds timeout_;
  const std::atomic<bool>& stop_;
  net::io_context ioc_;
  tcp::resolver resolver_{ioc_};
  std::unique_ptr<beast::tcp_stream> plain_;
  std::unique_ptr<TlsStream> tls_;
  beast::flat_buffer buffer_;
  std::optional<http::response_parser<http::string_body>> parser_;
  const char* step_ = "";
};

void BeastClient::Drop() {
  Close();
  plain_.reset();
  tls_.reset();
}

void BeastClient::Close() {
  resolver_.cancel();
  if (connected()) {
    ErrorCode ignored;
    lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
    lowest().close();
  }
}

net::awaitable<ErrorCode> BeastClient::Connect() {
  Drop();
  buffer_.clear();
  step_ = "resolve";
  auto [ec, endpoints] =
      co_await resolver_.async_resolve(url_.host, std::to_string(url_.port), kTuple);
  if (ec) co_return ec;
  if (!url_.tls) {
    // Clear-text events never leave the machine, whatever the name resolves to.
    for (const auto& entry : endpoints) {
      if (!entry.endpoint().address().is_loopback()) {
        step_ = "http to a non-loopback address";
        co_return net::error::access_denied;
      }
    }
  }
  // A member from the start, so that Close() can abandon the connect on a stop.
  plain_ = std::make_unique<beast::tcp_stream>(ioc_);
  step_ = "connect";
  plain_->expires_after(timeout_);
  auto [connect_ec, endpoint] = co_await plain_->async_connect(endpoints, kTuple);
  if (connect_ec || !url_.tls) co_return connect_ec;
  tls_ = std::make_unique<TlsStream>(std::move(*plain_), *ctx_);
  plain_.reset();
  ErrorCode parse_ec;
  net::ip::make_address(url_.host, parse_ec);
  if (parse_ec) SSL_set_tlsext_host_name(tls_->native_handle(), url_.host.c_str());
  // Checks the certificate's DNS name, or its IP address when the host is one.
  tls_->set_verify_callback(ssl::host_name_verification(url_.host));
  step_ = "TLS handshake";
  beast::get_lowest_layer(*tls_).expires_after(timeout_);
  auto [hs_ec] = co_await tls_->async_handshake(ssl::stream_base::client, kTuple);
  co_return hs_ec;
}

template <class Stream>
net::awaitable<ErrorCode> BeastClient::Exchange(Stream& stream,
                                                http::request<http::string_body>& req) {
  step_ = "write";
  lowest().expires_after(timeout_);
  auto [write_ec, written] = co_await http::async_write(stream, req, kTuple);
  if (write_ec) co_return write_ec;
  step_ = "read";
  parser_.emplace();
  parser_->body_limit(kMaxBodyBytes);
  lowest().expires_after(timeout_);
  auto [read_ec, read] = co_await http::async_read(stream, buffer_, *parser_, kTuple);
  co_return read_ec;
}

net::awaitable<ErrorCode> BeastClient::Attempt(http::request<http::string_body>& req) {
  const bool reused = connected();
  for (int round = 0; round < 2; ++round) {
    if (!connected()) {
      if (ErrorCode ec = co_await Connect(); ec) co_return ec;
    }
    ErrorCode ec = tls_ ? co_await Exchange(*tls_, req) : co_await Exchange(*plain_, req);
    // A kept-alive connection the peer closed while idle fails at once: open a fresh one.
    const bool stale = ec == http::error::end_of_stream || ec == net::error::eof ||
                       ec == net::error::connection_reset || ec == net::error::broken_pipe ||
                       ec == ssl::error::stream_truncated;
    if (!(reused && round == 0 && stale) || stop_.load()) co_return ec;
    Drop();
  }
  co_return ErrorCode();
}

ErrorCode BeastClient::RunUntilDone(http::request<http::string_body>& req) {
  std::optional<ErrorCode> result;
  ioc_.restart();
  net::co_spawn(ioc_, Attempt(req), [&result](const std::exception_ptr& e, ErrorCode ec) {
    result = e ? ErrorCode(net::error::fault) : ec;
  });
  bool closed = false;
  while (!result) {
    ioc_.run_for(kStopPoll);
    if (!result && !closed && stop_.load()) {
      Close();  // the pending operation completes with operation_aborted
      closed = true;
    }
  }
  return *result;
}

Result<HttpReply> BeastClient::Send(std::string_view method, std::string_view target,
                                    std::string body, const Headers& headers) {
  if (stop_.load()) return Status::Unavailable("stopping");
  http::request<http::string_body> req{http::string_to_verb(method), target, 11};
  const bool v6 = url_.host.find(':') != std::string::npos;
  req.set(http::field::host,
          (v6 ? "[" + url_.host + "]" : url_.host) + ":" + std::to_string(url_.port));
  req.set(http::field::user_agent, "vault-notify");
  for (const auto& [name, value] : headers) req.set(name, value);
  if (!body.empty()) {
    req.set(http::field::content_type, "application/json");
    req.body() = std::move(body);
  }
  req.keep_alive(true);
  req.prepare_payload();
  const ErrorCode ec = RunUntilDone(req);
  // An answer that arrived whole counts, even if a stop came meanwhile: a delivered batch is
  // then kept in the cursor, not sent again at the next start.
  if (ec) {
    Drop();
    if (stop_.load()) return Status::Unavailable(url_.Origin() + ": stopping");
    return Status::Unavailable(url_.Origin() + ": " + step_ + ": " + ec.message());
  }
  http::response<http::string_body> res = parser_->release();
  if (!res.keep_alive()) Drop();
  return HttpReply{res.result_int(), std::move(res.body())};
}

}  // namespace

Result<std::unique_ptr<HttpClient>> HttpClient::Create(const Url& url, const TlsFiles& tls,
                                                       std::chrono::milliseconds timeout,
                                                       const std::atomic<bool>& stop) {
  std::unique_ptr<ssl::context> ctx;
  if (url.tls) {
    ESCROW_ASSIGN_OR_RETURN(ctx, MakeTlsContext(tls));
  } else if (!IsLoopbackHost(url.host)) {
    return Status::InvalidArgument("http only to a loopback address: " + url.Origin());
  }
  return std::unique_ptr<HttpClient>(
      std::make_unique<BeastClient>(url, std::move(ctx), timeout, stop));
}

}  // namespace escrow::tools
