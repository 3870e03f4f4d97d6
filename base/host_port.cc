#include "base/host_port.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <charconv>
#include <system_error>

#include "base/status.h"

namespace escrow {

Result<HostPort> ParseHostPort(std::string_view text, std::string_view what) {
  const std::string whole(text);
  const std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size()) {
    return Status::InvalidArgument(std::string(what) + " must be HOST:PORT: " + whole);
  }
  HostPort hp;
  hp.host = std::string(text.substr(0, colon));
  if (hp.host.front() == '[') {
    if (hp.host.back() != ']') return Status::InvalidArgument("bad IPv6 address: " + whole);
    hp.host = hp.host.substr(1, hp.host.size() - 2);
  }
  const std::string_view port = text.substr(colon + 1);
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), hp.port);
  if (ec != std::errc() || ptr != port.data() + port.size()) {
    return Status::InvalidArgument("bad port in " + std::string(what) + ": " + whole);
  }
  return hp;
}

bool IsLoopbackHost(std::string_view host) {
  if (host == "localhost") return true;
  const std::string h(host);
  in_addr v4{};
  if (inet_pton(AF_INET, h.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (inet_pton(AF_INET6, h.c_str(), &v6) == 1) return IN6_IS_ADDR_LOOPBACK(&v6);
  return false;
}

}  // namespace escrow
