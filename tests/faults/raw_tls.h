#pragma once

// Sockets and TLS connections made by hand, for the tests that must do what curl won't: hold
// connections open, send hundreds of requests on one connection or in parallel, send bytes
// that are not HTTP, or watch the server close a connection.

#include <openssl/ssl.h>

#include <csignal>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace escrow::faults {

// A TCP connection to 127.0.0.1:port, or -1.
int ConnectTcp(int port);
// True once the server closed the connection (EOF or reset); reads what it sent before.
bool ClosedByPeer(int fd);
std::size_t CountClosed(const std::vector<int>& fds);

// Ignores SIGPIPE while alive (writes to connections the server cut must not kill the test).
struct IgnoreSigpipe {
  struct sigaction old {};
  IgnoreSigpipe();
  ~IgnoreSigpipe();
  IgnoreSigpipe(const IgnoreSigpipe&) = delete;
  IgnoreSigpipe& operator=(const IgnoreSigpipe&) = delete;
};

// A client TLS context trusting `ca_file`, presenting `cert`/`key` when given.
class TlsClientContext {
 public:
  explicit TlsClientContext(const std::string& ca_file, const std::string& cert = "",
                            const std::string& key = "");
  TlsClientContext(const TlsClientContext&) = delete;  // owns an SSL_CTX
  TlsClientContext& operator=(const TlsClientContext&) = delete;
  ~TlsClientContext();
  SSL_CTX* get() const { return ctx_; }

 private:
  SSL_CTX* ctx_ = nullptr;
};

// One HTTP answer read off a connection.
struct RawResponse {
  int status = 0;
  std::string head;  // status line and headers
  std::string body;
};

// A TLS connection to 127.0.0.1:port (handshake done, or ok() false).
class TlsConn {
 public:
  TlsConn(const TlsClientContext& ctx, int port);
  TlsConn(TlsConn&& other) noexcept;
  TlsConn(const TlsConn&) = delete;  // owns a socket
  TlsConn& operator=(const TlsConn&) = delete;
  TlsConn& operator=(TlsConn&&) = delete;
  ~TlsConn();

  bool ok() const { return ssl_ != nullptr; }
  int fd() const { return fd_; }
  SSL* ssl() const { return ssl_; }
  bool Write(std::string_view bytes);
  // Reads one answer (its Content-Length body); nullopt if the connection ended first.
  std::optional<RawResponse> Read();
  // True once the server closed the connection (TLS close_notify, EOF or reset).
  bool Closed();

 private:
  int fd_ = -1;
  SSL* ssl_ = nullptr;
  std::string pending_;
};

// "METHOD TARGET HTTP/1.1" with Host, the given header lines and a body (Content-Length and
// a JSON Content-Type when there is one).
std::string HttpRequest(std::string_view method, std::string_view target,
                        const std::vector<std::string>& headers = {},
                        std::optional<std::string_view> body = std::nullopt);

// VmRSS of a process in KiB (0 if unreadable).
long RssKib(int pid);

}  // namespace escrow::faults
