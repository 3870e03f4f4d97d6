#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vault/config.h"

// OpenSSL's X509, declared so this header does not pull in OpenSSL.
struct x509_st;

namespace escrow::api {

// What a presented client certificate shows: its subject CN and the SHA-256 of its DER
// SubjectPublicKeyInfo in lowercase hex.
struct PeerCert {
  std::string cn;
  std::string spki_sha256;
};

// Reads the CN (exactly one, UTF-8) and the public-key fingerprint of `cert`. nullopt if the
// certificate has no CN or several.
std::optional<PeerCert> DescribeCert(const x509_st* cert);

// The configured clients ([[clients]]), matched by CN and public-key fingerprint together: a
// right CN on another key, or a known key under another CN, matches nothing. Immutable after
// construction, so thread-safe.
class ClientRegistry {
 public:
  explicit ClientRegistry(std::vector<vault::ClientConfig> clients);

  // The client whose CN equals `peer.cn` and whose fingerprint equals `peer.spki_sha256`
  // (compared in constant time, case-insensitive hex), or nullopt.
  std::optional<vault::ClientConfig> Match(const PeerCert& peer) const;

 private:
  std::vector<vault::ClientConfig> clients_;
};

}  // namespace escrow::api
