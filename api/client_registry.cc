#include "api/client_registry.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <array>

#include "base/bytes.h"
#include "base/ssl_ptr.h"

namespace escrow::api {
namespace {

std::string LowerHex(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}  // namespace

std::optional<PeerCert> DescribeCert(const x509_st* cert) {
  if (cert == nullptr) return std::nullopt;
  const X509_NAME* subject = X509_get_subject_name(cert);
  if (subject == nullptr) return std::nullopt;
  int idx = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (idx < 0 || X509_NAME_get_index_by_NID(subject, NID_commonName, idx) >= 0) {
    return std::nullopt;  // none, or ambiguous
  }
  const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, idx));
  unsigned char* utf8_out = nullptr;
  const int len = ASN1_STRING_to_UTF8(&utf8_out, data);
  const SslBuffer<unsigned char> utf8(utf8_out);
  if (len < 0) return std::nullopt;
  PeerCert peer;
  peer.cn.assign(reinterpret_cast<const char*>(utf8.get()), static_cast<std::size_t>(len));

  const X509_PUBKEY* spki = X509_get_X509_PUBKEY(cert);
  unsigned char* der_out = nullptr;
  const int der_len = i2d_X509_PUBKEY(spki, &der_out);
  const SslBuffer<unsigned char> der(der_out);
  if (der_len <= 0) return std::nullopt;
  std::array<std::uint8_t, EVP_MAX_MD_SIZE> md{};
  unsigned int md_len = 0;
  const int ok = EVP_Digest(der.get(), static_cast<std::size_t>(der_len), md.data(), &md_len,
                            EVP_sha256(), nullptr);
  if (ok != 1) return std::nullopt;
  peer.spki_sha256 = HexEncode(std::span<const std::uint8_t>(md.data(), md_len));
  if (peer.cn.find('\0') != std::string::npos) return std::nullopt;
  return peer;
}

ClientRegistry::ClientRegistry(std::vector<vault::ClientConfig> clients)
    : clients_(std::move(clients)) {
  for (vault::ClientConfig& c : clients_) c.fingerprint = LowerHex(c.fingerprint);
}

std::optional<vault::ClientConfig> ClientRegistry::Match(const PeerCert& peer) const {
  const std::string fp = LowerHex(peer.spki_sha256);
  std::optional<vault::ClientConfig> found;
  for (const vault::ClientConfig& c : clients_) {
    bool fp_equal = c.fingerprint.size() == fp.size() &&
                    CRYPTO_memcmp(c.fingerprint.data(), fp.data(), fp.size()) == 0;
    if (fp_equal && c.name == peer.cn && !found) found = c;
  }
  return found;
}

}  // namespace escrow::api
