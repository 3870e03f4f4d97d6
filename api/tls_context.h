#pragma once

// Private to api/: includes Asio's SSL types.

#include <boost/asio/ssl/context.hpp>

#include "base/result.h"
#include "vault/config.h"

namespace escrow::api {

// Builds the server's TLS context from the config: TLS 1.2 minimum (1.3 preferred), AEAD-only
// ECDHE suites for 1.2, no renegotiation, no early data, no compression, a server-side session
// cache and tickets for resumption, and client certificates requested (not required: health
// answers without one) and verified against `client_ca` alone, with purpose sslclient, so a
// presented certificate that does not chain, or whose extended key usage lacks clientAuth,
// fails the handshake. kInvalidArgument naming the file that could not be used.
Result<boost::asio::ssl::context> MakeServerTlsContext(const vault::VaultConfig& config);

}  // namespace escrow::api
