#include "base/host_port.h"

#include <catch2/catch.hpp>

#include <string>

namespace escrow {
namespace {

// What vaultd and vaultctl init --dev ask of a dev listen address.
bool IsLoopbackListen(const std::string& listen) {
  Result<HostPort> hp = ParseHostPort(listen);
  return hp.ok() && IsLoopbackHost(hp->host);
}

TEST_CASE("ParseHostPort splits HOST:PORT", "[base][host_port]") {
  Result<HostPort> v4 = ParseHostPort("127.0.0.1:8443");
  REQUIRE(v4.ok());
  CHECK(v4->host == "127.0.0.1");
  CHECK(v4->port == 8443);
  Result<HostPort> v6 = ParseHostPort("[::1]:0");
  REQUIRE(v6.ok());
  CHECK(v6->host == "::1");
  CHECK(v6->port == 0);
  Result<HostPort> name = ParseHostPort("localhost:65535");
  REQUIRE(name.ok());
  CHECK(name->host == "localhost");
  CHECK(name->port == 65535);
}

TEST_CASE("ParseHostPort refuses malformed addresses", "[base][host_port]") {
  for (const char* bad : {"8443", ":8443", "host:", "[::1:8443", "host:65536", "host:-1",
                          "host:+1", "host:84a3", "host: 8443", ""}) {
    INFO(bad);
    Result<HostPort> hp = ParseHostPort(bad);
    REQUIRE_FALSE(hp.ok());
    CHECK(hp.status().code() == Code::kInvalidArgument);
    CHECK(hp.status().message().find(bad) != std::string::npos);
  }
  CHECK(ParseHostPort("8443", "listen address").status().message() ==
        "listen address must be HOST:PORT: 8443");
  CHECK(ParseHostPort("h:99999", "listen address").status().message() ==
        "bad port in listen address: h:99999");
  CHECK(ParseHostPort("[::1:80").status().message() == "bad IPv6 address: [::1:80");
}

TEST_CASE("Loopback addresses are recognised", "[base][host_port]") {
  CHECK(IsLoopbackListen("127.0.0.1:8443"));
  CHECK(IsLoopbackListen("127.5.0.1:0"));
  CHECK(IsLoopbackListen("[::1]:8443"));
  CHECK(IsLoopbackListen("localhost:8443"));
  CHECK_FALSE(IsLoopbackListen("0.0.0.0:8443"));
  CHECK_FALSE(IsLoopbackListen("10.0.0.1:8443"));
  CHECK_FALSE(IsLoopbackListen("[::]:8443"));
  CHECK_FALSE(IsLoopbackListen("8443"));
  CHECK(IsLoopbackHost("::1"));
  CHECK_FALSE(IsLoopbackHost("example.com"));
  CHECK_FALSE(IsLoopbackHost(""));
}

}  // namespace
}  // namespace escrow
