#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "base/result.h"
#include "portal/portal_config.h"

namespace escrow::portal {

// One call to vaultd. `body` and the answer's body may carry a recovery key: the caller marks
// such calls `sensitive` and wipes both strings when done.
struct VaultCall {
  std::string method;  // "GET", "POST", "PUT"
  std::string target;  // "/v1/devices?owner=me"
  std::string bearer;  // the signed-in user's token; empty for none
  std::string body;    // JSON, sent with Content-Type: application/json when non-empty
  bool sensitive = false;
};

struct VaultAnswer {
  int status = 0;
  std::string body;
  std::string retry_after;  // the Retry-After header of a 429, else empty
};

// The portal's HTTPS client of vaultd: TLS 1.2+, the server certificate checked against the
// configured CA and the URL's host, the frontend client certificate presented. One connection
// per call (the portal's traffic is a person clicking). Thread-safe: the TLS context is shared
// read-only; each call has its own socket and io_context.
class VaultClient {
 public:
  // kInvalidArgument for a bad URL, CA, certificate or key.
  static Result<std::unique_ptr<VaultClient>> Create(const PortalConfig& config);
  VaultClient(const VaultClient&) = delete;  // owns the TLS context
  VaultClient& operator=(const VaultClient&) = delete;
  VaultClient(VaultClient&&) = delete;
  VaultClient& operator=(VaultClient&&) = delete;
  ~VaultClient();

  // vaultd's answer, whatever its status; kUnavailable when vaultd cannot be reached or does
  // not answer within the configured timeout. Never logs the body or the token.
  Result<VaultAnswer> Call(VaultCall& call) const;

 private:
  struct Impl;
  explicit VaultClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace escrow::portal
