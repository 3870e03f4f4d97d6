#include "bench/loadgen/options.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <memory>

namespace escrow::bench::loadgen {
namespace {

constexpr std::array<std::string_view, kOpCount> kOpNames{"store", "retrieve", "status", "enroll",
                                                          "store_cms"};

struct AddrInfoDeleter {
  void operator()(addrinfo* p) const { freeaddrinfo(p); }
};

bool IsLoopback(const sockaddr* sa) {
  if (sa->sa_family == AF_INET) {
    sockaddr_in v4{};
    std::memcpy(&v4, sa, sizeof v4);
    return (ntohl(v4.sin_addr.s_addr) >> 24) == 127;
  }
  if (sa->sa_family == AF_INET6) {
    sockaddr_in6 v6{};
    std::memcpy(&v6, sa, sizeof v6);
    return IN6_IS_ADDR_LOOPBACK(&v6.sin6_addr) != 0;
  }
  return false;
}

}  // namespace

std::string_view OpName(Op op) { return kOpNames.at(static_cast<std::size_t>(op)); }

Result<Op> ParseOp(std::string_view name) {
  for (std::size_t i = 0; i < kOpNames.size(); ++i) {
    if (kOpNames[i] == name) return static_cast<Op>(i);
  }
  return Status::InvalidArgument("unknown op '" + std::string(name) +
                                 "' (store, retrieve, status, enroll, store_cms)");
}

Result<std::vector<MixEntry>> ParseMix(std::string_view spec) {
  std::vector<MixEntry> mix;
  while (!spec.empty()) {
    const std::size_t comma = spec.find(',');
    std::string_view item = spec.substr(0, comma);
    spec = comma == std::string_view::npos ? std::string_view{} : spec.substr(comma + 1);
    const std::size_t eq = item.find('=');
    MixEntry e;
    ESCROW_ASSIGN_OR_RETURN(e.op, ParseOp(item.substr(0, eq)));
    e.weight = 100;
    if (eq != std::string_view::npos) {
      std::string_view w = item.substr(eq + 1);
      auto [end, ec] = std::from_chars(w.data(), w.data() + w.size(), e.weight);
      if (ec != std::errc{} || end != w.data() + w.size() || e.weight == 0) {
        return Status::InvalidArgument("bad weight in mix item '" + std::string(item) + "'");
      }
    }
    mix.push_back(e);
  }
  if (mix.empty()) return Status::InvalidArgument("empty mix");
  return mix;
}

Result<bool> ResolvesToLoopbackOnly(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* raw = nullptr;
  if (int rc = getaddrinfo(host.c_str(), nullptr, &hints, &raw); rc != 0) {
    return Status::InvalidArgument("cannot resolve '" + host + "': " + gai_strerror(rc));
  }
  std::unique_ptr<addrinfo, AddrInfoDeleter> list(raw);
  bool any = false;
  for (const addrinfo* a = list.get(); a != nullptr; a = a->ai_next) {
    if (!IsLoopback(a->ai_addr)) return false;
    any = true;
  }
  return any;
}

Status Validate(const Options& o) {
  if (o.port.empty()) return Status::InvalidArgument("--target HOST:PORT is required");
  for (const std::string& port : o.also_ports) {
    if (port.empty() || port.size() > 5 ||
        port.find_first_not_of("0123456789") != std::string::npos || std::stoul(port) == 0 ||
        std::stoul(port) > 65535) {
      return Status::InvalidArgument("--also-port must be a port number, not '" + port + "'");
    }
  }
  ESCROW_ASSIGN_OR_RETURN(bool loopback, ResolvesToLoopbackOnly(o.host));
  if (!loopback) {
    return Status::PermissionDenied("refusing target '" + o.host +
                                    "': the load generator drives loopback addresses only");
  }
  if (o.duration_s <= 0 && o.requests == 0) {
    return Status::InvalidArgument("give a bound: --duration or --requests");
  }
  if (o.warmup_s > 0 && o.warmup_requests > 0) {
    return Status::InvalidArgument("give --warmup or --warmup-requests, not both");
  }
  if (o.warmup_requests > 0 && o.requests <= o.warmup_requests) {
    return Status::InvalidArgument("--warmup-requests needs --requests larger than it");
  }
  if (o.duration_s > 3600) return Status::InvalidArgument("--duration is at most 3600 s");
  if (o.connections == 0 || o.connections > 1024) {
    return Status::InvalidArgument("--connections must be 1..1024");
  }
  if (o.threads == 0 || o.threads > 64) return Status::InvalidArgument("--threads must be 1..64");
  if (o.devices == 0) return Status::InvalidArgument("--devices must be at least 1");
  if (o.cms_envelopes > kMaxCmsEnvelopes) {
    return Status::InvalidArgument("--cms-envelopes is at most " +
                                   std::to_string(kMaxCmsEnvelopes));
  }
  if (o.ca.empty()) return Status::InvalidArgument("--ca is required");
  bool needs_mdm = false;
  bool needs_portal = false;
  for (const MixEntry& e : o.mix) {
    if (e.op == Op::kStoreCms && o.cms_envelopes == 0 &&
        (o.requests == 0 || o.requests > kMaxCmsEnvelopes)) {
      return Status::InvalidArgument(
          "store_cms needs --cms-envelopes N (or --requests N of at most " +
          std::to_string(kMaxCmsEnvelopes) + "): its envelopes are made before the run");
    }
    if (e.op == Op::kRetrieve || (e.op == Op::kStatus && o.status_as_portal)) {
      needs_portal = true;
    } else {
      needs_mdm = true;
    }
  }
  if (needs_mdm && (o.mdm.cert.empty() || o.mdm.key.empty())) {
    return Status::InvalidArgument("this mix needs --mdm-cert and --mdm-key");
  }
  if (needs_portal && (o.portal.cert.empty() || o.portal.key.empty() || o.token.empty())) {
    return Status::InvalidArgument("this mix needs --portal-cert, --portal-key and --token-file");
  }
  return Status::Ok();
}

std::string DeviceId(std::string_view prefix, std::uint32_t index) {
  std::array<char, 16> digits{};  // a uint32 takes at most 10 digits: it always fits
  (void)std::snprintf(digits.data(), digits.size(), "%06u", index);
  std::string id(prefix);
  id += digits.data();
  return id;
}

}  // namespace escrow::bench::loadgen
