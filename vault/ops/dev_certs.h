#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace escrow::ops {

// The development PKI of `vaultctl init --dev`, made with the OpenSSL 3 API: an EC P-256 CA
// (basicConstraints CA:TRUE, keyCertSign), a server certificate for localhost and 127.0.0.1
// (serverAuth) and one client certificate per name (CN = name, clientAuth). Every private key
// is written as PKCS#8 PEM straight from OpenSSL to a file created 0600 and never held in our
// own buffers. Development only: a production vault gets its certificates from the
// organisation's CA. Stateless; thread-compatible.

struct DevClientCert {
  std::string name;                  // CN, e.g. "portal"
  std::filesystem::path cert_path;   // tls/clients/<name>.crt
  std::filesystem::path key_path;    // tls/clients/<name>.key
  std::string fingerprint;           // lowercase hex SHA-256 of the DER SubjectPublicKeyInfo
};

struct DevPki {
  std::filesystem::path ca_cert;
  std::filesystem::path ca_key;
  std::filesystem::path server_cert;
  std::filesystem::path server_key;
  std::vector<DevClientCert> clients;
};

// Creates tls_dir/ca.{crt,key}, tls_dir/server.{crt,key} and
// tls_dir/clients/<name>.{crt,key} for each of `client_names`. tls_dir and tls_dir/clients
// must exist. kAlreadyExists if any file exists (nothing is overwritten); kInternal on an
// OpenSSL failure (the message names the call); kUnavailable if a file cannot be written.
Result<DevPki> CreateDevPki(const std::filesystem::path& tls_dir,
                            std::span<const std::string> client_names);

// Creates an EC P-256 signing key pair: `key_path` (PKCS#8 PEM, 0600) and `pub_path`
// (SubjectPublicKeyInfo PEM, 0644 under the caller's umask). Same codes as CreateDevPki.
Status CreateEcSigningKey(const std::filesystem::path& key_path,
                          const std::filesystem::path& pub_path);

// Lowercase hex SHA-256 over the DER SubjectPublicKeyInfo of the PEM certificate at `path`:
// what vault.conf pins for each client. kNotFound if unreadable, kInvalidArgument if not a
// certificate.
Result<std::string> CertificateKeyFingerprint(const std::filesystem::path& path);

}  // namespace escrow::ops
