#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"

namespace escrow {

// A listen or target address, "HOST:PORT" ("[::1]:8443" for IPv6). The one parser of that
// form: vaultd's --listen and config, vaultctl init --dev, and the load generator's --target.
struct HostPort {
  std::string host;  // without the IPv6 brackets
  std::uint16_t port = 0;
};

// Splits at the last ':'. The host must be non-empty; "[...]" loses its brackets (an opening
// bracket without a closing one is an error); the port is decimal digits only, 0..65535.
// Errors are kInvalidArgument naming `what` and the whole text, e.g.
// "listen address must be HOST:PORT: 8443".
Result<HostPort> ParseHostPort(std::string_view text, std::string_view what = "address");

// True for "localhost", 127.0.0.0/8 and ::1 (a host as ParseHostPort returns it).
bool IsLoopbackHost(std::string_view host);

}  // namespace escrow
