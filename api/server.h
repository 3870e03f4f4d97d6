#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "base/result.h"
#include "vault/config.h"
#include "vault/escrow_service.h"

namespace escrow::auth {
class VerifierSource;
}  // namespace escrow::auth

namespace escrow::api {

// The vault's HTTPS API server: TLS listener, sessions on io threads, request handling on a
// worker pool (config.worker_threads), graceful drain on SIGTERM/SIGINT. Beast stays behind
// this interface. Create() binds the socket (so privileges can be dropped before Run());
// Run() serves on the calling thread plus config.io_threads - 1 more and returns after a
// signal or Stop() once in-flight requests completed (or drain_timeout passed).
class Server {
 public:
  // `listen` is "HOST:PORT" (port 0 picks a free one). `service` and `verifier` must outlive
  // the server; `verifier` may be null (every bearer token then fails). While serving, the
  // IdP's keys are reloaded on SIGHUP and when a watched key file changes (checked every
  // `key_watch_interval`); a set that fails to load is logged and the old one kept.
  // kInvalidArgument for a bad address or TLS files, kUnavailable if the address cannot be
  // bound.
  static Result<std::unique_ptr<Server>> Create(const vault::VaultConfig& config,
                                                const std::string& listen,
                                                vault::EscrowService& service,
                                                auth::VerifierSource* verifier,
                                                std::chrono::milliseconds key_watch_interval =
                                                    std::chrono::seconds(2));
  Server(const Server&) = delete;  // owns threads and sockets
  Server& operator=(const Server&) = delete;
  Server(Server&&) = delete;  // its threads and sessions hold its address
  Server& operator=(Server&&) = delete;
  ~Server();

  // "HOST:PORT" with the port actually bound.
  const std::string& listen_address() const;
  void Run();
  // Thread-safe and signal-free: begin the drain.
  void Stop();

 private:
  struct Impl;
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace escrow::api
