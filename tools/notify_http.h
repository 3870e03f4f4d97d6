#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"
#include "tools/notify_config.h"

namespace escrow::tools {

// Files for one HTTPS client. An empty `ca` trusts the system store; an empty `cert` presents
// no client certificate.
struct TlsFiles {
  std::string ca;
  std::string cert, key;
};

struct HttpReply {
  unsigned status = 0;
  std::string body;
};

// A small blocking HTTP/1.1 client for one origin (Boost.Beast and OpenSSL inside), with one
// kept-alive connection opened on demand. https verifies the server's certificate against the
// CA and checks its name or IP address (SNI for names); TLS 1.2 at least. http is refused
// unless every address the host resolves to is loopback. Every resolve, connect, handshake,
// write and read has the timeout. Not thread-safe; one per peer.
class HttpClient {
 public:
  using Headers = std::vector<std::pair<std::string, std::string>>;

  // kInvalidArgument if a CA, certificate or key cannot be loaded, or for http to a host that
  // is not loopback. `stop` is polled while a request is in flight: once set, the request is
  // abandoned (the connection closed) within about 100 ms.
  static Result<std::unique_ptr<HttpClient>> Create(const Url& url, const TlsFiles& tls,
                                                    std::chrono::milliseconds timeout,
                                                    const std::atomic<bool>& stop);
  HttpClient() = default;
  HttpClient(const HttpClient&) = delete;  // owns a connection
  HttpClient& operator=(const HttpClient&) = delete;
  HttpClient(HttpClient&&) = delete;
  HttpClient& operator=(HttpClient&&) = delete;
  virtual ~HttpClient() = default;

  // Sends `method target` (a body only if non-empty, as application/json) and reads the whole
  // answer (at most 16 MiB). A reused connection the peer had closed is reopened once. Any
  // HTTP status comes back as a value; kUnavailable for transport failures, timeouts, a
  // failed verification and a stop (the message names the step, never the body).
  virtual Result<HttpReply> Send(std::string_view method, std::string_view target, std::string body,
                                 const Headers& headers) = 0;
};

}  // namespace escrow::tools
