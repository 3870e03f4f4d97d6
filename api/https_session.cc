#include "api/https_session.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <array>
#include <exception>
#include <sstream>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/json.hpp>

#include "base/bytes.h"
#include "base/log.h"
#include "base/secret_bytes.h"
#include "vault/types.h"

namespace escrow::api {
namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;

std::string NewRequestId() {
  std::array<std::uint8_t, 16> id{};
  if (RAND_bytes(id.data(), static_cast<int>(id.size())) != 1) {
    // The id only correlates log lines; a failure here must not fail the request.
    static std::atomic<std::uint64_t> counter{0};
    std::uint64_t n = ++counter;
    for (std::size_t i = 0; i < 8; ++i) id[i] = static_cast<std::uint8_t>(n >> (8 * i));
  }
  return HexEncode(id);
}

HttpsSession::HttpsSession(net::ip::tcp::socket&& socket, ServerContext& ctx,
                           UnmappedConnections::Address from)
    : stream_(std::move(socket), ctx.tls), ctx_(ctx), unmapped_from_(from) {
  ctx_.metrics.ConnectionOpened();
}

// NOLINTNEXTLINE(bugprone-exception-escape): false positive, see WipeReadBuffer
HttpsSession::~HttpsSession() {
  WipeReadBuffer();
  if (unmapped_from_) ctx_.unmapped.Remove(*unmapped_from_);
  if (registry_id_ != 0) ctx_.sessions.Remove(registry_id_);
  ctx_.metrics.ConnectionClosed();
}

void HttpsSession::Run() {
  registry_id_ = ctx_.sessions.Add(weak_from_this());
  net::dispatch(stream_.get_executor(),
                beast::bind_front_handler(&HttpsSession::OnRun, shared_from_this()));
}

void HttpsSession::Drain() {
  net::post(stream_.get_executor(),
            beast::bind_front_handler(&HttpsSession::OnDrain, shared_from_this()));
}

void HttpsSession::OnDrain() {
  draining_ = true;
  // Idle (no byte of a request yet) or still shaking hands: nothing is in flight, close now.
  const bool idle = state_ == State::kReading && (!parser_ || !parser_->got_some());
  if (idle || state_ == State::kHandshake) {
    beast::error_code ignored;
    beast::get_lowest_layer(stream_).socket().cancel(ignored);
  }
}

void HttpsSession::OnRun() {
  if (ctx_.draining) return;  // the socket closes with the session
  beast::get_lowest_layer(stream_).expires_after(ctx_.timeouts.handshake);
  stream_.async_handshake(
      net::ssl::stream_base::server,
      beast::bind_front_handler(&HttpsSession::OnHandshake, shared_from_this()));
}

void HttpsSession::OnHandshake(beast::error_code ec) {
  if (ec) return Fail(ec, "handshake");
  // The chain and the clientAuth purpose were checked in the handshake; here the certificate
  // is mapped to a configured client (CN and public key). No match: only health answers.
  const X509* peer = SSL_get0_peer_certificate(stream_.native_handle());
  if (peer != nullptr && SSL_get_verify_result(stream_.native_handle()) == X509_V_OK) {
    if (std::optional<PeerCert> desc = DescribeCert(peer)) client_ = ctx_.clients.Match(*desc);
  }
  if (client_ && unmapped_from_) {
    ctx_.unmapped.Remove(*unmapped_from_);
    unmapped_from_.reset();
  }
  DoRead();
}

void HttpsSession::DoRead() {
  if (draining_) return DoClose();
  state_ = State::kReading;
  parser_.emplace();
  parser_->body_limit(kBodyLimit);
  parser_->header_limit(kHeaderLimit);
  // Room for the largest body up front, so a chunked body never reallocates (and leaves
  // copies of a recovery key behind).
  parser_->get().body().reserve(kBodyLimit + 1);
  beast::get_lowest_layer(stream_).expires_after(first_request_ ? ctx_.timeouts.read
                                                                : ctx_.timeouts.idle);
  http::async_read(stream_, buffer_, *parser_,
                   beast::bind_front_handler(&HttpsSession::OnRead, shared_from_this()));
}

void HttpsSession::OnRead(beast::error_code ec, std::size_t /*bytes*/) {
  first_request_ = false;
  ApiRequest req;
  bool keep_alive = false;
  if (ec == http::error::header_limit) {
    req.headers_too_large = true;
  } else if (ec == http::error::body_limit) {  // raised once the header is parsed
    req.body_too_large = true;
  } else if (ec == http::error::end_of_stream || ec == net::error::operation_aborted ||
             ec == beast::error::timeout) {
    return DoClose();
  } else if (ec) {
    if (ec.category() == http::make_error_code(http::error::bad_target).category() &&
        ec != http::error::partial_message && parser_->got_some()) {
      // A malformed request: answer 400 (or 401 first) and close.
      req.target = "/";
      req.method = "GET";
      req.client = client_;
      HttpError e = MakeError(400, "invalid_request", "malformed HTTP request");
      if (!client_) e = MakeError(401, "unauthenticated");
      ApiResponse r = ErrorResponse(e);
      r.route = "unknown";
      r.principal = client_ ? vault::ClientPrincipal(client_->name) : "-";
      request_id_ = NewRequestId();
      started_ = std::chrono::steady_clock::now();
      method_ = "-";
      keep_alive_ = false;
      state_ = State::kProcessing;
      return OnResponse(std::move(r));
    }
    return Fail(ec, "read");
  }
  if (!req.headers_too_large) {
    auto& msg = parser_->get();
    req.method = std::string(msg.method_string());
    req.target = std::string(msg.target());
    if (auto it = msg.find(http::field::authorization); it != msg.end()) {
      req.authorization = std::string(it->value());
    }
    if (auto it = msg.find(http::field::content_type); it != msg.end()) {
      req.content_type = std::string(it->value());
    }
    if (!req.body_too_large) {
      keep_alive = msg.keep_alive();
      req.body = std::move(msg.body());
    }
  } else {
    req.method = "-";
  }
  req.client = client_;
  req.request_id = NewRequestId();
  WipeReadBuffer();
  Process(std::move(req), keep_alive);
}

ApiResponse HttpsSession::Handle(ApiRequest& request) {
  ApiResponse response;
  try {
    response = ctx_.handler.Handle(request);
  } catch (const SecureHeapExhausted& e) {
    // Too many secrets in flight at once: an overload that passes, answered like one.
    LogError("handler_exception", e.what());
    const bool store =
        MatchRoute(request.method, SplitTarget(request.target).path).id == RouteId::kStoreKey;
    response = ErrorResponse(MakeError(503, store ? "store_failed" : "unavailable"));
    response.route = "unknown";
  } catch (const std::exception& e) {
    LogError("handler_exception", e.what());
    response = ErrorResponse(MakeError(500, "internal"));
    response.route = "unknown";
  }
  return response;
}

void HttpsSession::Process(ApiRequest request, bool keep_alive) {
  state_ = State::kProcessing;
  // Keep-alive only for mapped clients: anyone else gets one answer per connection, so that
  // no host can hold connection slots with a ping now and then.
  keep_alive_ = keep_alive && client_.has_value();
  started_ = std::chrono::steady_clock::now();
  request_id_ = request.request_id;
  method_ = MethodLabel(request.method);
  if (RequestHandler::AnswersAtOnce(request)) return OnResponse(Handle(request));
  // Never block an io thread: the handler runs on a worker and posts back to the strand.
  net::post(ctx_.workers, [self = shared_from_this(), req = std::move(request)]() mutable {
    ApiResponse response = self->Handle(req);
    net::post(self->stream_.get_executor(),
              [self, resp = std::move(response)]() mutable { self->OnResponse(std::move(resp)); });
  });
}

void HttpsSession::OnResponse(ApiResponse r) {
  state_ = State::kWriting;
  route_ = r.route;
  principal_ = r.principal;
  auth_error_ = r.auth_error;
  if (draining_) keep_alive_ = false;
  response_ = {};
  response_.version(11);
  response_.result(static_cast<unsigned>(r.status));
  response_.set(http::field::server, "vaultd");
  response_.set(http::field::content_type, r.content_type);
  response_.set(http::field::cache_control, "no-store");
  response_.set("X-Request-Id", request_id_);
  response_.set("X-Content-Type-Options", "nosniff");
  if (!r.allow.empty()) response_.set(http::field::allow, r.allow);
  if (r.retry_after_seconds > 0) {
    response_.set(http::field::retry_after, std::to_string(r.retry_after_seconds));
  }
  response_sensitive_ = r.sensitive;
  response_.keep_alive(keep_alive_);
  beast::get_lowest_layer(stream_).expires_after(ctx_.timeouts.write);
  if (response_sensitive_) {
    // A body that carries a key goes out from one buffer of ours, header and body together,
    // reserved at its final size (never reallocated) and wiped after the write. Written as
    // Beast's header and body buffers, the SSL stream would first copy them into a buffer (on
    // the stack, or in Beast's flat_stream) that nothing wipes; a single buffer it encrypts
    // where it lies. One TLS record and one send, where a header and a body written apart
    // took two.
    response_.content_length(r.body.size());
    std::ostringstream head;
    head << response_.base();
    const std::string header = head.str();
    sensitive_out_.reserve(header.size() + r.body.size());
    sensitive_out_.append(header).append(r.body);
    OPENSSL_cleanse(r.body.data(), r.body.size());
    net::async_write(stream_, net::buffer(sensitive_out_),
                     beast::bind_front_handler(&HttpsSession::OnWrite, shared_from_this()));
    return;
  }
  response_.body() = std::move(r.body);
  response_.prepare_payload();
  serializer_.emplace(response_);
  http::async_write(stream_, *serializer_,
                    beast::bind_front_handler(&HttpsSession::OnWrite, shared_from_this()));
}

void HttpsSession::OnWrite(beast::error_code ec, std::size_t /*bytes*/) {
  const int status = static_cast<int>(response_.result_int());
  serializer_.reset();
  if (response_sensitive_) {
    OPENSSL_cleanse(sensitive_out_.data(), sensitive_out_.size());
    sensitive_out_.clear();
    sensitive_out_.shrink_to_fit();  // the next key's answer is reserved afresh, at its size
    response_sensitive_ = false;
  }
  const auto latency = std::chrono::steady_clock::now() - started_;
  ctx_.metrics.ObserveRequest(method_, route_, status, latency);
  boost::json::object line;
  line["event"] = "request";
  line["request_id"] = request_id_;
  line["method"] = method_;
  line["route"] = route_;
  line["status"] = status;
  // Whole microseconds: a double would be logged as "2.620382E0".
  line["latency_us"] =
      std::chrono::duration_cast<std::chrono::microseconds>(latency).count();
  line["principal"] = principal_;
  if (!auth_error_.empty()) line["auth_error"] = auth_error_;
  if (ec) line["write_error"] = ec.message();
  LogJson(line);
  if (ec) return Fail(ec, "write");
  if (!keep_alive_ || draining_) return DoClose();
  DoRead();
}

void HttpsSession::DoClose() {
  if (state_ == State::kClosing) return;
  state_ = State::kClosing;
  beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(2));
  stream_.async_shutdown(beast::bind_front_handler(&HttpsSession::OnShutdown, shared_from_this()));
}

void HttpsSession::OnShutdown(beast::error_code /*ec*/) {
  beast::error_code ignored;
  beast::get_lowest_layer(stream_).socket().shutdown(net::ip::tcp::socket::shutdown_both, ignored);
  beast::get_lowest_layer(stream_).close();
}

void HttpsSession::Fail(beast::error_code ec, const char* what) {
  // Handshake failures (no chain, wrong purpose, plain HTTP) and resets are routine; they are
  // logged at a low volume without any peer data beyond the error text.
  if (ec != net::ssl::error::stream_truncated && ec != net::error::operation_aborted &&
      ec != beast::error::timeout) {
    boost::json::object line;
    line["event"] = "connection_error";
    line["stage"] = what;
    line["error"] = ec.message();
    LogJson(line);
  }
  state_ = State::kClosing;
  beast::error_code ignored;
  beast::get_lowest_layer(stream_).socket().close(ignored);
}

void HttpsSession::WipeReadBuffer() {
  // The consumed bytes of a request stay in the buffer's storage until overwritten; wipe the
  // whole storage when nothing unread is left in it.
  if (buffer_.size() == 0 && buffer_.capacity() > 0) {
    // prepare() throws length_error only past max_size() (unlimited here) and allocates only
    // past capacity(): asking for exactly the capacity of an empty buffer does neither, so
    // the destructor that calls this cannot throw (clang-tidy cannot see that).
    auto region = buffer_.prepare(buffer_.capacity());
    OPENSSL_cleanse(region.data(), region.size());
    buffer_.commit(0);
  }
}

}  // namespace escrow::api
