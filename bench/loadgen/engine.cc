#include "bench/loadgen/engine.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <openssl/cms.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "base/base64.h"
#include "base/ssl_ptr.h"
#include "bench/loadgen/probe.h"

namespace escrow::bench::loadgen {
namespace {

namespace net = boost::asio;
namespace ssl = net::ssl;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;
using Stream = beast::ssl_stream<beast::tcp_stream>;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;
constexpr auto kTuple = net::as_tuple(net::use_awaitable);
constexpr auto kIoTimeout = std::chrono::seconds(30);

enum class Who : std::uint8_t { kMdm, kPortal };

Result<std::unique_ptr<ssl::context>> MakeContext(const std::string& ca, const Identity& id) {
  auto ctx = std::make_unique<ssl::context>(ssl::context::tls_client);
  boost::system::error_code ec;
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  ctx->set_verify_mode(ssl::verify_peer, ec);
  if (!ec) ctx->load_verify_file(ca, ec);
  if (ec) return Status::InvalidArgument("CA " + ca + ": " + ec.message());
  if (id.cert.empty()) return ctx;
  ctx->use_certificate_chain_file(id.cert, ec);
  if (ec) return Status::InvalidArgument("certificate " + id.cert + ": " + ec.message());
  ctx->use_private_key_file(id.key, ssl::context::pem, ec);
  if (ec) return Status::InvalidArgument("key " + id.key + ": " + ec.message());
  return ctx;
}

// A keep-alive connection for one client identity, opened on first use and again after any
// error. Owned by one worker.
struct Connection {
  std::unique_ptr<Stream> stream;
  beast::flat_buffer buffer;
};

// One simulated client: its connections (one per identity it needs), its random source and
// its own statistics. Lives on one strand, so it needs no locks.
struct Worker {
  Worker(net::strand<net::io_context::executor_type> s, std::uint64_t seed)
      : strand(std::move(s)), rng(seed) {}
  // The worker's coroutine runs here; its streams and timers use it too. (Passed rather than
  // read with co_await this_coro::executor, which clang 14's analyzer misreads as a call
  // through an uninitialised pointer: it does not model coroutine frames.)
  net::strand<net::io_context::executor_type> strand;
  std::array<Connection, 2> connections;
  std::mt19937_64 rng;
  std::array<OpStats, kOpCount> stats;
  Clock::time_point last_done{};
  std::size_t node = 0;  // which of Engine::nodes_ its connections go to
};

class Engine {
 public:
  Engine(const Options& o, std::unique_ptr<ssl::context> mdm, std::unique_ptr<ssl::context> portal)
      : o_(o), mdm_ctx_(std::move(mdm)), portal_ctx_(std::move(portal)) {
    for (const MixEntry& e : o_.mix) weight_total_ += e.weight;
  }

  Result<RunResult> Run();

 private:
  net::awaitable<void> Work(Worker& w);
  net::awaitable<int> Single(Worker& w, Op op, std::uint32_t device);
  net::awaitable<int> StoreCms(Worker& w, std::uint32_t device, std::string body);
  net::awaitable<int> Enroll(Worker& w, std::uint32_t index);
  net::awaitable<int> Exchange(Worker& w, Who who, Request& req);
  net::awaitable<boost::system::error_code> Connect(Worker& w, Connection& c, Who who);
  // The index of the request this worker may send next, or nothing when the run is over.
  std::optional<std::uint64_t> TakeTicket();
  // The next unused envelope's request body, or nothing (and the run stops) when none is left.
  std::optional<std::string> TakeEnvelope();
  // The fleet certificate (GET /v1/escrow-certificates/current, as mdm), DER.
  Result<Bytes> FetchFleetCertificate();
  Status MakeEnvelopes();
  void StartMeasuring();
  Op PickOp(Worker& w) const;
  Request MakeRequest(http::verb verb, const std::string& target, std::string body,
                      bool bearer) const;

  const Options& o_;
  std::unique_ptr<ssl::context> mdm_ctx_;
  std::unique_ptr<ssl::context> portal_ctx_;
  std::uint32_t weight_total_ = 0;
  net::io_context ioc_;
  tcp::resolver::results_type endpoints_;         // --target
  std::vector<tcp::resolver::results_type> nodes_;  // --target, then each --also-port
  Clock::time_point measure_from_{};
  Clock::time_point deadline_ = Clock::time_point::max();
  std::atomic<std::uint64_t> issued_{0};
  std::mutex measure_mu_;              // guards the two below
  Clock::time_point measure_start_{};  // when the measured period began
  ProbeSample before_;                 // resource counters at that moment
  bool sampled_ = false;
  std::atomic<std::uint32_t> next_enroll_{0};
  std::vector<std::string> envelopes_;  // store_cms bodies, each taken once
  std::atomic<std::uint64_t> next_envelope_{0};
  std::atomic<bool> envelopes_ran_out_{false};
  double envelopes_make_s_ = 0;
  std::atomic<bool> stop_{false};
  std::mutex failure_mu_;
  std::string failure_;
};

std::optional<std::uint64_t> Engine::TakeTicket() {
  if (stop_.load(std::memory_order_relaxed)) return std::nullopt;
  if (Clock::now() >= deadline_) return std::nullopt;
  const std::uint64_t ticket = issued_.fetch_add(1, std::memory_order_relaxed);
  if (o_.requests > 0 && ticket >= o_.requests) return std::nullopt;
  return ticket;
}

std::optional<std::string> Engine::TakeEnvelope() {
  const std::uint64_t i = next_envelope_.fetch_add(1, std::memory_order_relaxed);
  if (i >= envelopes_.size()) {
    envelopes_ran_out_ = true;
    stop_ = true;
    return std::nullopt;
  }
  return std::move(envelopes_[i]);
}

void Engine::StartMeasuring() {
  ProbeSample sample = TakeSample(o_.server_pid, o_.disk_path);
  std::lock_guard lock(measure_mu_);
  before_ = sample;
  measure_start_ = Clock::now();
  sampled_ = true;
}

Op Engine::PickOp(Worker& w) const {
  if (o_.mix.size() == 1) return o_.mix.front().op;
  std::uniform_int_distribution<std::uint32_t> pick(0, weight_total_ - 1);
  std::uint32_t x = pick(w.rng);
  for (const MixEntry& e : o_.mix) {
    if (x < e.weight) return e.op;
    x -= e.weight;
  }
  return o_.mix.back().op;
}

Request Engine::MakeRequest(http::verb verb, const std::string& target, std::string body,
                            bool bearer) const {
  Request req{verb, target, 11};
  req.set(http::field::host, o_.host + ":" + o_.port);
  req.set(http::field::user_agent, "escrow-loadgen");
  if (bearer) req.set(http::field::authorization, "Bearer " + o_.token);
  if (verb != http::verb::get) {
    req.set(http::field::content_type, "application/json");
    req.body() = std::move(body);
  }
  req.keep_alive(true);
  req.prepare_payload();
  return req;
}

// A FileVault-shaped key (six dashed groups of four of A-Z0-9), different every time so that
// each store creates a new version. Benchmark data, not a secret.
std::string RandomRecoveryKey(std::mt19937_64& rng) {
  static constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  std::uniform_int_distribution<std::size_t> pick(0, kAlphabet.size() - 1);
  std::string key;
  for (int i = 0; i < 24; ++i) {
    if (i > 0 && i % 4 == 0) key += '-';
    key += kAlphabet[pick(rng)];
  }
  return key;
}

Result<Bytes> Engine::FetchFleetCertificate() {
  net::io_context ioc;
  Stream stream(ioc, *mdm_ctx_);
  boost::system::error_code ec;
  net::ip::make_address(o_.host, ec);
  if (ec) SSL_set_tlsext_host_name(stream.native_handle(), o_.host.c_str());
  stream.set_verify_callback(ssl::host_name_verification(o_.host));
  beast::get_lowest_layer(stream).expires_after(kIoTimeout);
  beast::get_lowest_layer(stream).connect(endpoints_, ec);
  if (!ec) stream.handshake(ssl::stream_base::client, ec);
  Request req = MakeRequest(http::verb::get, "/v1/escrow-certificates/current", {}, false);
  if (!ec) http::write(stream, req, ec);
  beast::flat_buffer buffer;
  Response res;
  if (!ec) http::read(stream, buffer, res, ec);
  if (ec) return Status::Unavailable("GET /v1/escrow-certificates/current: " + ec.message());
  if (res.result_int() != 200) {
    return Status::Unavailable("GET /v1/escrow-certificates/current answered " +
                               std::to_string(res.result_int()));
  }
  boost::json::value v = boost::json::parse(res.body(), ec);
  const boost::json::value* der =
      !ec && v.is_object() ? v.as_object().if_contains("der_base64") : nullptr;
  if (der == nullptr || !der->is_string()) {
    return Status::InvalidArgument("the fleet certificate answer has no der_base64");
  }
  constexpr std::size_t kMaxCertificateBytes = std::size_t{64} * 1024;
  return DecodeBase64Strict(der->as_string(), kMaxCertificateBytes);
}

// One envelope per request, as a Mac makes it (CMS_encrypt's defaults: the recipient by issuer
// and serial, RSA PKCS#1 v1.5 key transport) around a fresh FileVault-shaped key, AES-256-CBC.
Status Engine::MakeEnvelopes() {
  const Clock::time_point t0 = Clock::now();
  ESCROW_ASSIGN_OR_RETURN(const Bytes der, FetchFleetCertificate());
  const std::uint8_t* p = der.data();
  SslPtr<X509> cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));  // NOLINT(google-runtime-int)
  if (cert == nullptr) return Status::InvalidArgument("the fleet certificate does not decode");
  SslPtr<STACK_OF(X509)> recipients(sk_X509_new_null());
  if (recipients == nullptr || sk_X509_push(recipients.get(), cert.get()) == 0) {
    return Status::Internal("cannot build the recipient list");
  }
  (void)cert.release();  // the stack owns it now
  const std::uint64_t count = o_.cms_envelopes > 0 ? o_.cms_envelopes : o_.requests;
  std::random_device seed;
  std::mt19937_64 rng((static_cast<std::uint64_t>(seed()) << 32) ^ seed());
  envelopes_.reserve(count);
  Bytes out;
  for (std::uint64_t i = 0; i < count; ++i) {
    const std::string key = RandomRecoveryKey(rng);
    SslPtr<BIO> in(BIO_new_mem_buf(key.data(), static_cast<int>(key.size())));
    SslPtr<CMS_ContentInfo> cms(
        in == nullptr ? nullptr
                      : CMS_encrypt(recipients.get(), in.get(), EVP_aes_256_cbc(), CMS_BINARY));
    const int len = cms == nullptr ? -1 : i2d_CMS_ContentInfo(cms.get(), nullptr);
    if (len <= 0) return Status::Internal("CMS_encrypt to the fleet certificate failed");
    out.resize(static_cast<std::size_t>(len));
    unsigned char* o = out.data();
    if (i2d_CMS_ContentInfo(cms.get(), &o) != len) return Status::Internal("i2d_CMS failed");
    envelopes_.push_back(R"({"cms":")" + EncodeBase64(out) + R"("})");
  }
  envelopes_make_s_ = std::chrono::duration<double>(Clock::now() - t0).count();
  return Status::Ok();
}

net::awaitable<boost::system::error_code> Engine::Connect(Worker& w, Connection& c, Who who) {
  ssl::context& ctx = who == Who::kMdm ? *mdm_ctx_ : *portal_ctx_;
  c.stream = std::make_unique<Stream>(w.strand, ctx);
  c.buffer.clear();
  boost::system::error_code parse_ec;
  net::ip::make_address(o_.host, parse_ec);
  if (parse_ec) SSL_set_tlsext_host_name(c.stream->native_handle(), o_.host.c_str());
  c.stream->set_verify_callback(ssl::host_name_verification(o_.host));
  beast::tcp_stream& tcp_layer = beast::get_lowest_layer(*c.stream);
  tcp_layer.expires_after(kIoTimeout);
  auto [ec, ep] = co_await tcp_layer.async_connect(nodes_.at(w.node), kTuple);
  if (ec) co_return ec;
  tcp_layer.socket().set_option(tcp::no_delay(true), ec);
  auto [hs_ec] = co_await c.stream->async_handshake(ssl::stream_base::client, kTuple);
  co_return hs_ec;
}

net::awaitable<int> Engine::Exchange(Worker& w, Who who, Request& req) {
  Connection& c = w.connections.at(static_cast<std::size_t>(who));
  if (!c.stream) {
    if (boost::system::error_code ec = co_await Connect(w, c, who); ec) {
      c.stream.reset();
      // Do not spin on a refused connection.
      net::steady_timer pause(w.strand, std::chrono::milliseconds(50));
      co_await pause.async_wait(kTuple);
      co_return kTransportError;
    }
  }
  beast::get_lowest_layer(*c.stream).expires_after(kIoTimeout);
  auto [write_ec, written] = co_await http::async_write(*c.stream, req, kTuple);
  if (write_ec) {
    c.stream.reset();
    co_return kTransportError;
  }
  Response res;
  auto [read_ec, read] = co_await http::async_read(*c.stream, c.buffer, res, kTuple);
  if (read_ec) {
    c.stream.reset();
    co_return kTransportError;
  }
  if (!res.keep_alive()) c.stream.reset();
  co_return static_cast<int>(res.result_int());
}

net::awaitable<int> Engine::Single(Worker& w, Op op, std::uint32_t device) {
  const std::string path = "/v1/devices/" + DeviceId(o_.device_prefix, device);
  switch (op) {
    case Op::kStore: {
      Request req = MakeRequest(http::verb::put, path + "/recovery-key",
                                R"({"recovery_key":")" + RandomRecoveryKey(w.rng) + R"("})", false);
      co_return co_await Exchange(w, Who::kMdm, req);
    }
    case Op::kRetrieve: {
      Request req = MakeRequest(http::verb::post, path + "/recovery-key/retrieve", "{}", true);
      co_return co_await Exchange(w, Who::kPortal, req);
    }
    case Op::kStatus:
    case Op::kEnroll: {
      Request req = MakeRequest(http::verb::get, path, {}, o_.status_as_portal);
      co_return co_await Exchange(w, o_.status_as_portal ? Who::kPortal : Who::kMdm, req);
    }
    case Op::kStoreCms:  // StoreCms, with its envelope
      break;
  }
  co_return kTransportError;
}

net::awaitable<int> Engine::StoreCms(Worker& w, std::uint32_t device, std::string body) {
  Request req = MakeRequest(http::verb::put,
                            "/v1/devices/" + DeviceId(o_.device_prefix, device) +
                                "/recovery-key/cms",
                            std::move(body), false);
  co_return co_await Exchange(w, Who::kMdm, req);
}

net::awaitable<int> Engine::Enroll(Worker& w, std::uint32_t index) {
  const std::string id = DeviceId(o_.device_prefix, index);
  const std::string path = "/v1/devices/" + id;
  boost::json::object device;
  device["serial"] = "BENCH" + id;
  device["name"] = "bench " + id;
  device["platform"] = "macos";
  device["ownership"] = "corporate";
  device["owner"] = o_.owner;
  device["encryption_enabled"] = true;
  Request enrol = MakeRequest(http::verb::put, path, boost::json::serialize(device), false);
  int status = co_await Exchange(w, Who::kMdm, enrol);
  if (status != 200 && status != 201) co_return status;
  Request checkin = MakeRequest(http::verb::post, path + "/checkin", "{}", false);
  status = co_await Exchange(w, Who::kMdm, checkin);
  if (status != 200) co_return status;
  co_return co_await Single(w, Op::kStore, index);
}

net::awaitable<void> Engine::Work(Worker& w) {
  std::uniform_int_distribution<std::uint32_t> device(0, o_.devices - 1);
  while (std::optional<std::uint64_t> ticket = TakeTicket()) {
    if (o_.warmup_requests > 0 && *ticket == o_.warmup_requests) StartMeasuring();
    const Op op = PickOp(w);
    std::optional<std::string> envelope;
    if (op == Op::kStoreCms) {
      envelope = TakeEnvelope();
      if (!envelope) break;
    }
    std::uint32_t index = 0;
    if (op == Op::kEnroll) {
      index = o_.device_offset + next_enroll_.fetch_add(1, std::memory_order_relaxed);
      if (index >= o_.device_offset + o_.devices) break;
    } else {
      index = device(w.rng);
    }
    const Clock::time_point t0 = Clock::now();
    int status = kTransportError;
    if (op == Op::kEnroll) {
      status = co_await Enroll(w, index);
    } else if (op == Op::kStoreCms) {
      status = co_await StoreCms(w, index, std::move(*envelope));
    } else {
      status = co_await Single(w, op, index);
    }
    const Clock::time_point t1 = Clock::now();
    if (t0 >= measure_from_ && *ticket >= o_.warmup_requests) {
      w.stats.at(static_cast<std::size_t>(op)).Record(status, t1 - t0);
      w.last_done = t1;
    }
  }
  for (Connection& c : w.connections) {
    if (!c.stream) continue;
    boost::system::error_code ec;
    beast::get_lowest_layer(*c.stream).socket().shutdown(tcp::socket::shutdown_both, ec);
    beast::get_lowest_layer(*c.stream).close();
  }
}

Result<RunResult> Engine::Run() {
  boost::system::error_code ec;
  tcp::resolver resolver(ioc_);
  endpoints_ = resolver.resolve(o_.host, o_.port, ec);
  if (ec) return Status::Unavailable("resolve " + o_.host + ":" + o_.port + ": " + ec.message());
  nodes_.push_back(endpoints_);
  for (const std::string& port : o_.also_ports) {
    nodes_.push_back(resolver.resolve(o_.host, port, ec));
    if (ec) return Status::Unavailable("resolve " + o_.host + ":" + port + ": " + ec.message());
  }
  // Validate() checked the name; check what was actually resolved, too.
  for (const tcp::resolver::results_type& node : nodes_) {
    for (const auto& entry : node) {
      if (!entry.endpoint().address().is_loopback()) {
        return Status::PermissionDenied("refusing non-loopback address " +
                                        entry.endpoint().address().to_string());
      }
    }
  }

  bool cms = false;
  for (const MixEntry& e : o_.mix) cms = cms || e.op == Op::kStoreCms;
  if (cms) ESCROW_RETURN_IF_ERROR(MakeEnvelopes());  // before the clock starts

  const Clock::time_point start = Clock::now();
  const auto warmup =
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o_.warmup_s));
  measure_from_ = start + warmup;
  if (o_.duration_s > 0) {
    deadline_ = measure_from_ + std::chrono::duration_cast<Clock::duration>(
                                    std::chrono::duration<double>(o_.duration_s));
  }

  net::steady_timer warmup_timer(ioc_);
  if (o_.warmup_s > 0) {
    warmup_timer.expires_at(measure_from_);
    warmup_timer.async_wait([this](const boost::system::error_code&) { StartMeasuring(); });
  } else if (o_.warmup_requests == 0) {
    StartMeasuring();
  }

  std::vector<std::unique_ptr<Worker>> workers;
  std::random_device seed;
  for (std::uint32_t i = 0; i < o_.connections; ++i) {
    auto w = std::make_unique<Worker>(net::make_strand(ioc_),
                                      (static_cast<std::uint64_t>(seed()) << 32) ^ i);
    w->node = i % nodes_.size();
    net::co_spawn(w->strand, Work(*w), [this](const std::exception_ptr& e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        std::lock_guard lock(failure_mu_);
        failure_ = ex.what();
        stop_ = true;
      }
    });
    workers.push_back(std::move(w));
  }
  std::vector<std::thread> threads;
  for (std::uint32_t i = 1; i < o_.threads; ++i) threads.emplace_back([this] { ioc_.run(); });
  ioc_.run();
  for (std::thread& t : threads) t.join();
  if (!failure_.empty()) return Status::Internal("load generator failed: " + failure_);

  RunResult r;
  r.connections = o_.connections;
  r.envelopes.made = envelopes_.size();
  r.envelopes.used = std::min<std::uint64_t>(next_envelope_.load(), envelopes_.size());
  r.envelopes.make_s = envelopes_make_s_;
  r.envelopes.ran_out = envelopes_ran_out_.load();
  r.cores = std::thread::hardware_concurrency();
  std::lock_guard lock(measure_mu_);
  Clock::time_point end = measure_start_;
  for (const auto& w : workers) {
    for (std::size_t i = 0; i < r.ops.size(); ++i) r.ops[i].Merge(w->stats[i]);
    end = std::max(end, w->last_done);
  }
  if (sampled_) {
    r.elapsed_s = std::chrono::duration<double>(end - measure_start_).count();
    const ProbeSample after = TakeSample(o_.server_pid, o_.disk_path);
    auto delta = [](double a, double b) { return a >= 0 && b >= 0 ? b - a : -1.0; };
    r.resources.server_cpu_s = delta(before_.server_cpu_s, after.server_cpu_s);
    r.resources.client_cpu_s = delta(before_.client_cpu_s, after.client_cpu_s);
    r.resources.disk_flushes = delta(before_.disk_flushes, after.disk_flushes);
  }
  return r;
}

}  // namespace

Result<RunResult> Run(const Options& options) {
  bool needs_mdm = false;
  bool needs_portal = false;
  for (const MixEntry& e : options.mix) {
    const bool portal = e.op == Op::kRetrieve || (e.op == Op::kStatus && options.status_as_portal);
    (portal ? needs_portal : needs_mdm) = true;
  }
  std::unique_ptr<ssl::context> mdm;
  std::unique_ptr<ssl::context> portal;
  if (needs_mdm) {
    ESCROW_ASSIGN_OR_RETURN(mdm, MakeContext(options.ca, options.mdm));
  }
  if (needs_portal) {
    ESCROW_ASSIGN_OR_RETURN(portal, MakeContext(options.ca, options.portal));
  }
  Engine engine(options, std::move(mdm), std::move(portal));
  return engine.Run();
}

}  // namespace escrow::bench::loadgen
