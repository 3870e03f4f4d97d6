#include "api/tls_context.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <string>

namespace escrow::api {
namespace {

namespace ssl = boost::asio::ssl;

std::string OpenSslError() {
  unsigned long e = ERR_get_error();  // NOLINT(google-runtime-int): OpenSSL's type
  ERR_clear_error();
  if (e == 0) return "unknown error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

Status Bad(const std::string& what) {
  return Status::InvalidArgument("tls: " + what + ": " + OpenSslError());
}

// TLS 1.2 suites: forward secrecy and AEAD only. TLS 1.3's own suites are all AEAD.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256";

constexpr unsigned char kSessionIdContext[] = "escrow-vaultd";

}  // namespace

Result<ssl::context> MakeServerTlsContext(const vault::VaultConfig& config) {
  ssl::context ctx(ssl::context::tls_server);
  SSL_CTX* native = ctx.native_handle();
  ERR_clear_error();
  if (SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1) return Bad("min version");
  SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                  SSL_OP_NO_COMPRESSION | SSL_OP_CLEANSE_PLAINTEXT);
  if (SSL_CTX_set_cipher_list(native, kTls12Ciphers) != 1) return Bad("cipher list");
  // No 0-RTT: early data can be replayed.
  SSL_CTX_set_max_early_data(native, 0);
  SSL_CTX_set_recv_max_early_data(native, 0);
  // Resumption: a server-side cache plus (OpenSSL's default) tickets. The id context is
  // required for resumption when client certificates are verified.
  SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_SERVER);
  SSL_CTX_sess_set_cache_size(native, 20000);
  if (SSL_CTX_set_session_id_context(native, kSessionIdContext, sizeof kSessionIdContext - 1) !=
      1) {
    return Bad("session id context");
  }
  SSL_CTX_set_mode(native, SSL_MODE_RELEASE_BUFFERS);

  if (SSL_CTX_use_certificate_chain_file(native, config.tls_cert.c_str()) != 1) {
    return Bad("cannot use certificate " + config.tls_cert);
  }
  if (SSL_CTX_use_PrivateKey_file(native, config.tls_key.c_str(), SSL_FILETYPE_PEM) != 1) {
    return Bad("cannot use private key " + config.tls_key);
  }
  if (SSL_CTX_check_private_key(native) != 1) return Bad("key does not match certificate");

  // Client certificates: trust the client CA only (never the system store).
  if (SSL_CTX_load_verify_locations(native, config.client_ca.c_str(), nullptr) != 1) {
    return Bad("cannot load client CA " + config.client_ca);
  }
  STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(config.client_ca.c_str());
  if (names == nullptr) return Bad("cannot read client CA names " + config.client_ca);
  SSL_CTX_set_client_CA_list(native, names);  // takes ownership
  if (SSL_CTX_set_purpose(native, X509_PURPOSE_SSL_CLIENT) != 1) return Bad("purpose");
  SSL_CTX_set_verify(native, SSL_VERIFY_PEER, nullptr);
  SSL_CTX_set_verify_depth(native, 4);
  return ctx;
}

}  // namespace escrow::api
