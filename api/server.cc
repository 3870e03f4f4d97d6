#include "api/server.h"

#include <algorithm>
#include <charconv>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/json.hpp>

#include "api/client_registry.h"
#include "api/https_session.h"
#include "api/listener.h"
#include "api/metrics.h"
#include "api/request_handler.h"
#include "api/server_context.h"
#include "api/tls_context.h"
#include "auth/verifier_source.h"
#include "base/host_port.h"
#include "base/log.h"

namespace escrow::api {
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

// Workers block on the one HSM lane and on durable commits; enough of them must wait at once
// for group commit to fill its groups (one fsync and one HSM MAC per group, not per request).
constexpr int kDefaultWorkers = 32;

std::size_t ThreadCount(int configured) {
  if (configured > 0) return static_cast<std::size_t>(configured);
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 2 : n;
}

}  // namespace

std::uint64_t SessionRegistry::Add(std::weak_ptr<HttpsSession> session) {
  std::lock_guard lock(mu_);
  std::uint64_t id = next_++;
  sessions_.emplace(id, std::move(session));
  return id;
}

void SessionRegistry::Remove(std::uint64_t id) {
  std::lock_guard lock(mu_);
  sessions_.erase(id);
}

std::size_t SessionRegistry::size() const {
  std::lock_guard lock(mu_);
  return sessions_.size();
}

std::vector<std::shared_ptr<HttpsSession>> SessionRegistry::Snapshot() const {
  std::lock_guard lock(mu_);
  std::vector<std::shared_ptr<HttpsSession>> out;
  for (const auto& [id, weak] : sessions_) {
    if (auto s = weak.lock()) out.push_back(std::move(s));
  }
  return out;
}

UnmappedConnections::Address UnmappedConnections::Key(const boost::asio::ip::address& a) {
  if (a.is_v4()) return net::ip::make_address_v6(net::ip::v4_mapped, a.to_v4()).to_bytes();
  Address bytes = a.to_v6().to_bytes();
  // One IPv6 host commonly holds a whole /64: count the /64 (v4-mapped stay whole).
  if (!a.to_v6().is_v4_mapped()) std::fill(bytes.begin() + 8, bytes.end(), 0);
  return bytes;
}

bool UnmappedConnections::TryAdd(const Address& address, std::size_t cap) {
  std::lock_guard lock(mu_);
  std::size_t& n = open_[address];
  if (cap > 0 && n >= cap) {
    if (n == 0) open_.erase(address);
    return false;
  }
  ++n;
  return true;
}

void UnmappedConnections::Remove(const Address& address) {
  std::lock_guard lock(mu_);
  auto it = open_.find(address);
  if (it == open_.end()) return;
  if (--it->second == 0) open_.erase(it);
}

std::size_t UnmappedConnections::CountFor(const Address& address) const {
  std::lock_guard lock(mu_);
  auto it = open_.find(address);
  return it == open_.end() ? 0 : it->second;
}

struct Server::Impl {
  Impl(const vault::VaultConfig& config, net::ssl::context tls_context,
       vault::EscrowService& service, auth::VerifierSource* verifier,
       std::chrono::milliseconds watch_interval)
      : idp_keys(verifier),
        clients(config.clients),
        handler(service, verifier, config, metrics),
        tls(std::move(tls_context)),
        ctx{tls, workers, handler, clients, metrics, sessions, unmapped, {}, 1024, 64, {}},
        ioc(static_cast<int>(ThreadCount(config.io_threads))),
        workers(ThreadCount(config.worker_threads > 0 ? config.worker_threads : kDefaultWorkers)),
        signals(ioc, SIGINT, SIGTERM),
        reload_signals(ioc, SIGHUP),
        key_watch_timer(ioc),
        key_watch_interval(watch_interval),
        drain_timer(ioc),
        io_threads(ThreadCount(config.io_threads)),
        drain_timeout(config.drain_timeout) {
    ctx.timeouts.handshake = config.handshake_timeout;
    ctx.timeouts.read = config.read_timeout;
    ctx.timeouts.idle = config.idle_timeout;
    ctx.timeouts.write = config.read_timeout;
    ctx.max_connections =
        config.max_connections > 0 ? static_cast<std::size_t>(config.max_connections) : 1024;
    ctx.max_unmapped_per_address =
        static_cast<std::size_t>(std::max(config.max_unmapped_connections_per_address, 0));
  }

  void BeginDrain() {
    if (ctx.draining.exchange(true)) return;
    LogInfo("draining", "stopped accepting; finishing in-flight requests");
    listener->Stop();
    boost::system::error_code ignored;
    signals.cancel(ignored);
    reload_signals.cancel(ignored);
    key_watch_timer.cancel();
    for (const auto& s : sessions.Snapshot()) s->Drain();
    drain_deadline = std::chrono::steady_clock::now() + drain_timeout;
    CheckDrained();
  }

  // SIGHUP (systemd's ExecReload): the IdP's keys read again.
  void WaitForReloadSignal() {
    reload_signals.async_wait([this](boost::system::error_code ec, int /*signal*/) {
      if (ec) return;
      LogReload("sighup", idp_keys->Reload());
      WaitForReloadSignal();
    });
  }

  // A key file replaced or edited (an IdP rotation written by a sync job): read again.
  void WatchKeyFiles() {
    key_watch_timer.expires_after(key_watch_interval);
    key_watch_timer.async_wait([this](boost::system::error_code ec) {
      if (ec || ctx.draining) return;
      if (std::optional<Status> s = idp_keys->ReloadIfChanged()) LogReload("file_changed", *s);
      WatchKeyFiles();
    });
  }

  static void LogReload(const char* trigger, const Status& s) {
    boost::json::object line;
    line["event"] = s.ok() ? "idp_keys_reloaded" : "idp_keys_reload_failed";
    line["trigger"] = trigger;
    if (!s.ok()) line["error"] = s.message() + "; the previous keys stay in use";
    LogJson(line);
  }

  void CheckDrained() {
    const std::size_t left = sessions.size();
    if (left == 0 || std::chrono::steady_clock::now() >= drain_deadline) {
      boost::json::object line;
      line["event"] = "drained";
      line["connections_left"] = left;
      LogJson(line);
      ioc.stop();
      return;
    }
    drain_timer.expires_after(std::chrono::milliseconds(20));
    drain_timer.async_wait([this](boost::system::error_code ec) {
      if (!ec) CheckDrained();
    });
  }

  auth::VerifierSource* idp_keys;  // may be null
  Metrics metrics;
  ClientRegistry clients;
  RequestHandler handler;
  SessionRegistry sessions;
  UnmappedConnections unmapped;
  net::ssl::context tls;
  // Before ioc: sessions still pending when a drain times out are destroyed with ioc, and
  // reach ctx (and what it names) from their destructors.
  ServerContext ctx;
  net::io_context ioc;
  net::thread_pool workers;
  std::shared_ptr<Listener> listener;
  net::signal_set signals;
  net::signal_set reload_signals;
  net::steady_timer key_watch_timer;
  std::chrono::milliseconds key_watch_interval;
  net::steady_timer drain_timer;
  std::size_t io_threads;
  std::chrono::milliseconds drain_timeout;
  std::chrono::steady_clock::time_point drain_deadline;
  std::string listen_address;
};

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() {
  if (impl_) impl_->workers.join();
}

Result<std::unique_ptr<Server>> Server::Create(const vault::VaultConfig& config,
                                               const std::string& listen,
                                               vault::EscrowService& service,
                                               auth::VerifierSource* verifier,
                                               std::chrono::milliseconds key_watch_interval) {
  ESCROW_ASSIGN_OR_RETURN(HostPort hp, ParseHostPort(listen, "listen address"));
  ESCROW_ASSIGN_OR_RETURN(net::ssl::context tls, MakeServerTlsContext(config));
  auto impl =
      std::make_unique<Impl>(config, std::move(tls), service, verifier, key_watch_interval);
  // Health is answered on the io threads, from the monitor's newest check: never in place.
  service.StartHealthMonitor();

  boost::system::error_code ec;
  net::ip::address address = net::ip::make_address(hp.host, ec);
  if (ec) {
    tcp::resolver resolver(impl->ioc);
    auto results = resolver.resolve(hp.host, std::to_string(hp.port), ec);
    if (ec || results.empty()) {
      return Status::InvalidArgument("cannot resolve listen host " + hp.host);
    }
    address = results.begin()->endpoint().address();
  }
  impl->listener = std::make_shared<Listener>(impl->ioc, impl->ctx);
  ESCROW_RETURN_IF_ERROR(impl->listener->Bind(tcp::endpoint(address, hp.port)));
  const std::uint16_t port = impl->listener->local_endpoint().port();
  const bool v6 = hp.host.find(':') != std::string::npos;
  impl->listen_address = (v6 ? "[" + hp.host + "]" : hp.host) + ":" + std::to_string(port);
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

const std::string& Server::listen_address() const { return impl_->listen_address; }

void Server::Run() {
  Impl& s = *impl_;
  s.signals.async_wait([&s](boost::system::error_code ec, int /*signal*/) {
    if (!ec) s.BeginDrain();
  });
  if (s.idp_keys != nullptr) {
    s.WaitForReloadSignal();
    s.WatchKeyFiles();
  }
  s.listener->Run();
  std::vector<std::thread> threads;
  for (std::size_t i = 1; i < s.io_threads; ++i) threads.emplace_back([&s] { s.ioc.run(); });
  s.ioc.run();
  for (std::thread& t : threads) t.join();
  s.workers.join();
}

void Server::Stop() {
  net::post(impl_->ioc, [s = impl_.get()] { s->BeginDrain(); });
}

}  // namespace escrow::api
