#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"

namespace escrow::tools {

// An http(s) URL as vault-notify uses it: scheme, host (without IPv6 brackets), port and the
// path with its query ("/" when empty). No user info, no fragment.
struct Url {
  bool tls = false;  // https
  std::string host;
  std::uint16_t port = 0;
  std::string target;  // path and query
  // "https://host:port", without the path (which may carry a collector's token): for logs.
  std::string Origin() const;
};

// Parses "http[s]://HOST[:PORT][/PATH[?QUERY]]"; the default ports are 80 and 443. Returns
// kInvalidArgument naming `what` for anything else.
Result<Url> ParseUrl(std::string_view text, std::string_view what);

// notify.conf (docs/operations.md, "Relaying events"). Relative paths are taken from the
// config file's folder.
struct NotifyConfig {
  Url vault;               // vault_url: https only
  std::string ca;          // CA that vaultd's server certificate must chain to
  std::string cert, key;   // the notifier's client certificate and key
  Url webhook;             // webhook_url: https, or http to a loopback address only
  std::string webhook_ca;  // optional: trust this CA instead of the system store
  std::string secret_file;
  std::string state_dir;
  std::uint32_t batch_size = 100;                    // 1..1000
  std::chrono::seconds poll{5};                      // poll_seconds 1..3600
  std::chrono::milliseconds backoff_initial{1000};   // backoff_initial_ms 10..3600000
  std::chrono::milliseconds backoff_max{3'600'000};  // backoff_max_ms initial..3600000
  std::chrono::milliseconds timeout{30'000};         // timeout_ms 100..600000: each connect,
                                                     // handshake, write and read
};

// Parses notify.conf text. Unknown keys, missing required keys, wrong types and out-of-range
// values are kInvalidArgument with a message naming the key; so is an http webhook_url whose
// host is not loopback, or a vault_url that is not https.
Result<NotifyConfig> ParseNotifyConfig(std::string_view text, const std::string& base_dir);
// Reads and parses the file at `path`.
Result<NotifyConfig> LoadNotifyConfig(const std::string& path);

}  // namespace escrow::tools
