#include "tests/faults/raw_tls.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <charconv>
#include <fstream>

namespace escrow::faults {

int ConnectTcp(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

bool ClosedByPeer(int fd) {
  char buf[4096];
  for (;;) {
    const ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0) return true;
    if (n < 0) return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
  }
}

std::size_t CountClosed(const std::vector<int>& fds) {
  std::size_t n = 0;
  for (int fd : fds) n += ClosedByPeer(fd) ? 1U : 0U;
  return n;
}

IgnoreSigpipe::IgnoreSigpipe() {
  struct sigaction ign {};
  ign.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &ign, &old);
}
IgnoreSigpipe::~IgnoreSigpipe() { sigaction(SIGPIPE, &old, nullptr); }

TlsClientContext::TlsClientContext(const std::string& ca_file, const std::string& cert,
                                   const std::string& key)
    : ctx_(SSL_CTX_new(TLS_client_method())) {
  SSL_CTX_load_verify_locations(ctx_, ca_file.c_str(), nullptr);
  SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
  if (!cert.empty()) {
    SSL_CTX_use_certificate_file(ctx_, cert.c_str(), SSL_FILETYPE_PEM);
    SSL_CTX_use_PrivateKey_file(ctx_, key.c_str(), SSL_FILETYPE_PEM);
  }
}
TlsClientContext::~TlsClientContext() { SSL_CTX_free(ctx_); }

TlsConn::TlsConn(const TlsClientContext& ctx, int port) : fd_(ConnectTcp(port)) {
  if (fd_ < 0) return;
  ssl_ = SSL_new(ctx.get());
  SSL_set_fd(ssl_, fd_);
  SSL_set_tlsext_host_name(ssl_, "localhost");
  if (SSL_connect(ssl_) != 1) {
    SSL_free(ssl_);
    ssl_ = nullptr;
  }
}

TlsConn::TlsConn(TlsConn&& other) noexcept
    : fd_(other.fd_), ssl_(other.ssl_), pending_(std::move(other.pending_)) {
  other.fd_ = -1;
  other.ssl_ = nullptr;
}

TlsConn::~TlsConn() {
  if (ssl_ != nullptr) SSL_free(ssl_);
  if (fd_ >= 0) close(fd_);
}

bool TlsConn::Write(std::string_view bytes) {
  if (ssl_ == nullptr) return false;
  while (!bytes.empty()) {
    const int n = SSL_write(ssl_, bytes.data(), static_cast<int>(bytes.size()));
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

std::optional<RawResponse> TlsConn::Read() {
  if (ssl_ == nullptr) return std::nullopt;
  char buf[16384];
  auto more = [&] {
    const int n = SSL_read(ssl_, buf, sizeof buf);
    if (n <= 0) return false;
    pending_.append(buf, static_cast<std::size_t>(n));
    return true;
  };
  std::size_t end = 0;
  while ((end = pending_.find("\r\n\r\n")) == std::string::npos) {
    if (!more()) return std::nullopt;
  }
  RawResponse r;
  r.head = pending_.substr(0, end + 2);
  std::from_chars(r.head.data() + 9, r.head.data() + r.head.size(), r.status);
  std::size_t length = 0;
  std::string lower = r.head;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (std::size_t at = lower.find("\r\ncontent-length:"); at != std::string::npos) {
    std::size_t p = at + 17;
    while (p < lower.size() && lower[p] == ' ') ++p;
    std::from_chars(lower.data() + p, lower.data() + lower.size(), length);
  }
  while (pending_.size() < end + 4 + length) {
    if (!more()) return std::nullopt;
  }
  r.body = pending_.substr(end + 4, length);
  pending_.erase(0, end + 4 + length);
  return r;
}

bool TlsConn::Closed() {
  if (ssl_ == nullptr) return true;
  pollfd p{fd_, POLLIN, 0};
  if (poll(&p, 1, 2000) <= 0) return false;
  char buf[1024];
  const int n = SSL_read(ssl_, buf, sizeof buf);
  if (n > 0) return false;
  const int err = SSL_get_error(ssl_, n);
  return err == SSL_ERROR_ZERO_RETURN || err == SSL_ERROR_SYSCALL || err == SSL_ERROR_SSL;
}

std::string HttpRequest(std::string_view method, std::string_view target,
                        const std::vector<std::string>& headers,
                        std::optional<std::string_view> body) {
  std::string out(method);
  out += " ";
  out += target;
  out += " HTTP/1.1\r\nHost: localhost\r\n";
  for (const std::string& h : headers) out += h + "\r\n";
  if (body) {
    out += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body->size()) +
           "\r\n\r\n";
    out += *body;
  } else {
    out += "\r\n";
  }
  return out;
}

long RssKib(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return 0;
}

}  // namespace escrow::faults
