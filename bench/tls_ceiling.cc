// tls_ceiling: mutual-TLS handshakes per second over loopback TCP with the vault's own
// certificates, full and resumed (TLS 1.3 session tickets), one server thread and one client
// thread, as vaultd and the load generator share this machine's cores.
//
//   tls_ceiling --ca CA --server-cert C --server-key K --client-cert C --client-key K
//               [--seconds 2]
//
// Prints one JSON object: {"full_per_s", "resumed_per_s", "resumed_fraction"}.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include <openssl/err.h>
#include <openssl/ssl.h>

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void Die(const std::string& what) {
  (void)std::fprintf(stderr, "tls_ceiling: %s\n", what.c_str());
  ERR_print_errors_fp(stderr);
  std::exit(1);
}

// A flag's value as a number; anything else (atof would read it as 0) ends the program.
double NumberFlag(const char* text) {
  char* end = nullptr;
  const double v = std::strtod(text, &end);
  if (end == text || *end != '\0') Die(std::string("not a number: ") + text);
  return v;
}

struct CtxDeleter {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
struct SslDeleter {
  void operator()(SSL* s) const { SSL_free(s); }
};
struct SessionDeleter {
  void operator()(SSL_SESSION* s) const { SSL_SESSION_free(s); }
};
using CtxPtr = std::unique_ptr<SSL_CTX, CtxDeleter>;
using SslPtr = std::unique_ptr<SSL, SslDeleter>;
using SessionPtr = std::unique_ptr<SSL_SESSION, SessionDeleter>;

CtxPtr MakeCtx(bool server, const std::string& ca, const std::string& cert,
               const std::string& key) {
  CtxPtr ctx(SSL_CTX_new(server ? TLS_server_method() : TLS_client_method()));
  if (!ctx) Die("SSL_CTX_new");
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  if (SSL_CTX_load_verify_locations(ctx.get(), ca.c_str(), nullptr) != 1) Die("load CA " + ca);
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), cert.c_str()) != 1) Die("load " + cert);
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), key.c_str(), SSL_FILETYPE_PEM) != 1) {
    Die("load " + key);
  }
  SSL_CTX_set_verify(ctx.get(),
                     server ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT : SSL_VERIFY_PEER,
                     nullptr);
  if (server) {
    static const unsigned char kId[] = "tls-ceiling";
    SSL_CTX_set_session_id_context(ctx.get(), kId, sizeof kId - 1);
  }
  return ctx;
}

void NoDelay(int fd) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

// Accepts and serves handshakes until the listening socket is shut down.
void Serve(SSL_CTX* ctx, int listen_fd) {
  for (;;) {
    const int fd = ::accept(listen_fd, nullptr, nullptr);
    if (fd < 0) return;
    NoDelay(fd);
    SslPtr ssl(SSL_new(ctx));
    SSL_set_fd(ssl.get(), fd);
    if (SSL_accept(ssl.get()) == 1) {
      const char byte = 'x';
      SSL_write(ssl.get(), &byte, 1);
      SSL_shutdown(ssl.get());
    }
    ::close(fd);
  }
}

struct Result {
  double per_s = 0;
  double resumed_fraction = 0;
};

Result Handshakes(SSL_CTX* ctx, const sockaddr_in& addr, bool resume, double seconds) {
  SessionPtr session;
  std::uint64_t n = 0;
  std::uint64_t resumed = 0;
  const Clock::time_point start = Clock::now();
  const auto budget = std::chrono::duration<double>(seconds);
  while (Clock::now() - start < budget) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) Die("socket");
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {  // NOLINT
      Die("connect");
    }
    NoDelay(fd);
    SslPtr ssl(SSL_new(ctx));
    SSL_set_fd(ssl.get(), fd);
    if (resume && session) SSL_set_session(ssl.get(), session.get());
    if (SSL_connect(ssl.get()) != 1) Die("SSL_connect");
    char byte = 0;
    // Reading also takes in the TLS 1.3 session tickets sent after the handshake.
    if (SSL_read(ssl.get(), &byte, 1) != 1) Die("SSL_read");
    if (SSL_session_reused(ssl.get()) == 1) ++resumed;
    if (resume) session.reset(SSL_get1_session(ssl.get()));
    SSL_shutdown(ssl.get());
    ::close(fd);
    ++n;
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  return {static_cast<double>(n) / elapsed,
          n > 0 ? static_cast<double>(resumed) / static_cast<double>(n) : 0.0};
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> args{{"--seconds", "2"}};
  for (int i = 1; i + 1 < argc; i += 2) args[argv[i]] = argv[i + 1];
  for (const char* required :
       {"--ca", "--server-cert", "--server-key", "--client-cert", "--client-key"}) {
    if (args.count(required) == 0) {
      Die("usage: tls_ceiling --ca CA --server-cert C --server-key K --client-cert C "
          "--client-key K [--seconds S]");
    }
  }
  const double seconds = NumberFlag(args["--seconds"].c_str());
  CtxPtr server = MakeCtx(true, args["--ca"], args["--server-cert"], args["--server-key"]);
  CtxPtr client = MakeCtx(false, args["--ca"], args["--client-cert"], args["--client-key"]);

  const int listen_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(listen_fd, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||  // NOLINT
      ::listen(listen_fd, 64) != 0 ||
      ::getsockname(listen_fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {  // NOLINT
    Die("listen on loopback");
  }
  std::thread server_thread(Serve, server.get(), listen_fd);
  const Result full = Handshakes(client.get(), addr, false, seconds);
  const Result resumed = Handshakes(client.get(), addr, true, seconds);
  ::shutdown(listen_fd, SHUT_RDWR);
  server_thread.join();
  ::close(listen_fd);
  std::printf("{\"full_per_s\": %.1f, \"resumed_per_s\": %.1f, \"resumed_fraction\": %.3f}\n",
              full.per_s, resumed.per_s, resumed.resumed_fraction);
  return 0;
}
