#include "portal/https_client.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <exception>
#include <optional>

#include "base/host_port.h"
#include "base/secret_bytes.h"

namespace escrow::portal {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

// Room for the largest answer the pages need (a page of devices); a retrieval is far smaller.
constexpr std::uint64_t kMaxAnswerBytes = std::uint64_t{4} * 1024 * 1024;
constexpr std::size_t kSensitiveReserve = std::size_t{64} * 1024;

Status TlsError(const std::string& what) {
  std::array<char, 256> buf{};
  const unsigned long e = ERR_get_error();  // NOLINT(google-runtime-int): OpenSSL's type
  ERR_clear_error();
  if (e != 0) ERR_error_string_n(e, buf.data(), buf.size());
  return Status::InvalidArgument("vault client: " + what + ": " + buf.data());
}

}  // namespace

struct HttpsClient::Impl {
  ssl::context tls{ssl::context::tls_client};
  HostPort target;
  std::chrono::milliseconds timeout{};

  net::awaitable<void> Exchange(beast::ssl_stream<beast::tcp_stream>& stream,
                                http::request<http::string_body>& req,
                                http::response_parser<http::string_body>& parser) const {
    tcp::resolver resolver(co_await net::this_coro::executor);
    auto endpoints = co_await resolver.async_resolve(target.host, std::to_string(target.port),
                                                     net::use_awaitable);
    beast::get_lowest_layer(stream).expires_after(timeout);
    co_await beast::get_lowest_layer(stream).async_connect(endpoints, net::use_awaitable);
    co_await stream.async_handshake(ssl::stream_base::client, net::use_awaitable);
    co_await http::async_write(stream, req, net::use_awaitable);
    beast::flat_buffer buffer;
    co_await http::async_read(stream, buffer, parser, net::use_awaitable);
    // Wipe what the buffer may still hold of the answer (a key travels in it).
    const net::mutable_buffer b = buffer.data();
    Cleanse(b.data(), b.size());
    beast::error_code ignored;
    beast::get_lowest_layer(stream).socket().shutdown(tcp::socket::shutdown_both, ignored);
  }
};

HttpsClient::HttpsClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpsClient::~HttpsClient() = default;

Result<std::unique_ptr<HttpsClient>> HttpsClient::Create(const HttpsClientOptions& o) {
  auto impl = std::make_unique<Impl>();
  constexpr std::string_view kScheme = "https://";
  if (o.base_url.rfind(kScheme, 0) != 0) {
    return Status::InvalidArgument("not an https URL: " + o.base_url);
  }
  std::string_view rest = std::string_view(o.base_url).substr(kScheme.size());
  rest = rest.substr(0, rest.find('/'));
  ESCROW_ASSIGN_OR_RETURN(impl->target, ParseHostPort(rest.find(':') == std::string_view::npos
                                                          ? std::string(rest) + ":443"
                                                          : std::string(rest),
                                                      "URL"));
  impl->timeout = o.timeout;
  SSL_CTX* native = impl->tls.native_handle();
  ERR_clear_error();
  if (SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1) return TlsError("min version");
  if (o.ca.empty()) {
    if (SSL_CTX_set_default_verify_paths(native) != 1) return TlsError("system trust store");
  } else if (SSL_CTX_load_verify_locations(native, o.ca.c_str(), nullptr) != 1) {
    return TlsError("cannot load CA " + o.ca);
  }
  if (!o.client_cert.empty()) {
    if (SSL_CTX_use_certificate_chain_file(native, o.client_cert.c_str()) != 1) {
      return TlsError("cannot use client certificate " + o.client_cert);
    }
    if (SSL_CTX_use_PrivateKey_file(native, o.client_key.c_str(), SSL_FILETYPE_PEM) != 1) {
      return TlsError("cannot use client key " + o.client_key);
    }
    if (SSL_CTX_check_private_key(native) != 1) return TlsError("client key does not match");
  }
  impl->tls.set_verify_mode(ssl::verify_peer);
  return std::unique_ptr<HttpsClient>(new HttpsClient(std::move(impl)));
}

Result<std::unique_ptr<HttpsClient>> HttpsClient::ForVault(const PortalConfig& config) {
  return Create({config.vault_url, config.vault_ca, config.client_cert, config.client_key,
                 config.vault_timeout});
}

Result<HttpsAnswer> HttpsClient::Call(HttpsCall& call) const {
  net::io_context ioc;
  beast::ssl_stream<beast::tcp_stream> stream(ioc, impl_->tls);
  const std::string& host = impl_->target.host;
  // SNI for names only; the certificate must name the host (or IP) either way.
  if (!host.empty() && std::isalpha(static_cast<unsigned char>(host.front())) != 0) {
    SSL_set_tlsext_host_name(stream.native_handle(), host.c_str());
  }
  stream.set_verify_callback(ssl::host_name_verification(host));

  http::request<http::string_body> req;
  req.method_string(call.method);
  req.target(call.target);
  req.version(11);
  req.set(http::field::host, host);
  req.set(http::field::connection, "close");
  if (!call.bearer.empty()) {
    req.set(http::field::authorization, "Bearer " + call.bearer);
  } else if (!call.authorization.empty()) {
    req.set(http::field::authorization, call.authorization);
  }
  req.set(http::field::accept, "application/json");
  if (!call.body.empty() || call.method != "GET") {
    req.set(http::field::content_type, call.content_type);
    req.body() = std::move(call.body);
    call.body.clear();
  }
  req.prepare_payload();

  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxAnswerBytes);
  if (call.sensitive) parser.get().body().reserve(kSensitiveReserve);

  std::exception_ptr failure;
  bool done = false;
  net::co_spawn(ioc, impl_->Exchange(stream, req, parser), [&](std::exception_ptr e) {
    failure = e;
    done = true;
  });
  ioc.run_for(impl_->timeout + std::chrono::seconds(1));
  if (call.sensitive) Cleanse(req.body().data(), req.body().size());
  if (!done || failure) {
    if (call.sensitive) Cleanse(parser.get().body().data(), parser.get().body().size());
    return Status::Unavailable("no answer from " + host + ":" + std::to_string(impl_->target.port),
                               "unavailable");
  }
  HttpsAnswer answer;
  answer.status = static_cast<int>(parser.get().result_int());
  answer.body = std::move(parser.get().body());
  auto retry = parser.get().find(http::field::retry_after);
  if (retry != parser.get().end()) answer.retry_after = std::string(retry->value());
  return answer;
}

}  // namespace escrow::portal
