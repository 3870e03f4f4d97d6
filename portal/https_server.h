#pragma once

#include <memory>
#include <string>

#include "base/result.h"
#include "portal/portal_app.h"
#include "portal/portal_config.h"

namespace escrow::portal {

// portald's HTTPS listener, in the shape of Beast's async SSL server: one strand per
// connection, a deadline on every step, requests handed to a worker pool (a handler waits on
// vaultd) and answered on the connection's strand. Every answer gets the security headers
// (AddSecurityHeaders). Request bodies, and answers marked sensitive, are wiped once done.
// Create binds; Run serves until SIGTERM/SIGINT or Stop(), then returns.
class HttpsServer {
 public:
  // kInvalidArgument for a bad address or TLS files, kUnavailable if it cannot bind.
  static Result<std::unique_ptr<HttpsServer>> Create(const PortalConfig& config,
                                                     const std::string& listen, PortalApp& app);
  HttpsServer(const HttpsServer&) = delete;  // owns threads and sockets
  HttpsServer& operator=(const HttpsServer&) = delete;
  HttpsServer(HttpsServer&&) = delete;
  HttpsServer& operator=(HttpsServer&&) = delete;
  ~HttpsServer();

  // "HOST:PORT" as bound.
  const std::string& listen_address() const;
  void Run();
  void Stop();

 private:
  struct Impl;
  explicit HttpsServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace escrow::portal
