#pragma once

// Private to api/: Beast types.

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "api/request_handler.h"
#include "api/server_context.h"

namespace escrow::api {

// Serves one TLS connection: handshake, identify the client certificate, then read a request,
// hand it to a worker thread (the handler blocks on the HSM and the database), write the
// answer on the connection's strand, and repeat while keep-alive. One request at a time, so
// pipelined requests wait their turn. Every step has a deadline. Lives as long as its pending
// operations hold it (shared_from_this). All members are touched only on the strand.
class HttpsSession : public std::enable_shared_from_this<HttpsSession> {
 public:
  static constexpr std::size_t kBodyLimit = std::size_t{16} * 1024;
  static constexpr std::uint32_t kHeaderLimit = 8 * 1024;

  // `from` was counted in ctx.unmapped by the listener; the session uncounts it once a mapped
  // client certificate is presented, or when it ends.
  HttpsSession(boost::asio::ip::tcp::socket&& socket, ServerContext& ctx,
               UnmappedConnections::Address from);
  HttpsSession(const HttpsSession&) = delete;  // owns a socket
  HttpsSession& operator=(const HttpsSession&) = delete;
  HttpsSession(HttpsSession&&) = delete;  // shared_from_this: async work holds its address
  HttpsSession& operator=(HttpsSession&&) = delete;
  ~HttpsSession();  // NOLINT(bugprone-exception-escape): cannot throw, see WipeReadBuffer

  void Run();
  // Thread-safe: finish what is in flight, then close; an idle connection closes at once.
  void Drain();

 private:
  enum class State { kHandshake, kReading, kProcessing, kWriting, kClosing };

  void OnRun();
  void OnHandshake(boost::beast::error_code ec);
  void DoRead();
  void OnRead(boost::beast::error_code ec, std::size_t bytes);
  void Process(ApiRequest request, bool keep_alive);
  ApiResponse Handle(ApiRequest& request);  // never throws
  void OnResponse(ApiResponse response);
  void OnWrite(boost::beast::error_code ec, std::size_t bytes);
  void DoClose();
  void OnShutdown(boost::beast::error_code ec);
  void OnDrain();
  void Fail(boost::beast::error_code ec, const char* what);
  void WipeReadBuffer();

  boost::beast::ssl_stream<boost::beast::tcp_stream> stream_;
  ServerContext& ctx_;
  std::uint64_t registry_id_ = 0;
  State state_ = State::kHandshake;
  bool draining_ = false;
  bool first_request_ = true;
  std::optional<vault::ClientConfig> client_;
  std::optional<UnmappedConnections::Address> unmapped_from_;  // counted until mapped
  boost::beast::flat_buffer buffer_;
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
  boost::beast::http::response<boost::beast::http::string_body> response_;
  std::optional<boost::beast::http::response_serializer<boost::beast::http::string_body>>
      serializer_;
  bool response_sensitive_ = false;
  std::string sensitive_out_;  // header and body of a response that carries a key; wiped
  bool keep_alive_ = false;
  // For the access log of the request in flight.
  std::chrono::steady_clock::time_point started_;
  std::string request_id_;
  std::string method_;
  std::string route_;
  std::string principal_;
  std::string auth_error_;
};

// A random 128-bit id in lowercase hex.
std::string NewRequestId();

}  // namespace escrow::api
