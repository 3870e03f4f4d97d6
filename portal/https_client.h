#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "base/result.h"
#include "portal/portal_config.h"

namespace escrow::portal {

// One call. `body` and the answer's body may carry a recovery key: the caller marks such
// calls `sensitive` and wipes both strings when done.
struct HttpsCall {
  std::string method;  // "GET", "POST", "PUT"
  std::string target;  // "/v1/devices?owner=me"
  std::string bearer;  // a token sent as "Authorization: Bearer"; empty for none
  std::string authorization;  // a whole Authorization value (e.g. Basic), if no bearer
  std::string body;
  std::string content_type = "application/json";  // sent with any body and any non-GET
  bool sensitive = false;
};

// Where a client connects and how it proves itself.
struct HttpsClientOptions {
  std::string base_url;     // "https://HOST:PORT" (a path after it is ignored)
  std::string ca;           // PEM CA bundle; empty: the system's trust store
  std::string client_cert;  // PEM chain; empty: no client certificate
  std::string client_key;
  std::chrono::milliseconds timeout{10000};
};

struct HttpsAnswer {
  int status = 0;
  std::string body;
  std::string retry_after;  // the Retry-After header of a 429, else empty
};

// The portal's HTTPS client, of vaultd (with the frontend client certificate) and of the
// OpenID Connect provider: TLS 1.2+, the server certificate checked against the CA and the
// URL's host. One connection per call (the portal's traffic is a person clicking).
// Thread-safe: the TLS context is shared read-only; each call has its own socket and io_context.
class HttpsClient {
 public:
  // kInvalidArgument for a bad URL, CA, certificate or key.
  static Result<std::unique_ptr<HttpsClient>> Create(const HttpsClientOptions& options);
  // The vault client of `config` ([vault]).
  static Result<std::unique_ptr<HttpsClient>> ForVault(const PortalConfig& config);
  HttpsClient(const HttpsClient&) = delete;  // owns the TLS context
  HttpsClient& operator=(const HttpsClient&) = delete;
  HttpsClient(HttpsClient&&) = delete;
  HttpsClient& operator=(HttpsClient&&) = delete;
  ~HttpsClient();

  // The server's answer, whatever its status; kUnavailable when it cannot be reached or does
  // not answer within the timeout. Never logs the body or the token.
  Result<HttpsAnswer> Call(HttpsCall& call) const;

 private:
  struct Impl;
  explicit HttpsClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace escrow::portal
