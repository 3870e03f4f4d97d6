#include "vault/ops/dev_certs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <functional>
#include <memory>
#include <utility>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "base/bytes.h"
#include "base/ssl_ptr.h"
#include "base/unique_fd.h"
#include "vault/ops/files.h"

namespace escrow::ops {
namespace {


constexpr long kDaySeconds = 24L * 60 * 60;
constexpr long kCaDays = 3650;    // a dev CA outlives any dev session
constexpr long kLeafDays = 825;   // the longest leaf lifetime clients still accept
constexpr const char* kOrganisation = "Escrow Vault (development)";

// "<call>: <first OpenSSL error>", clearing the error queue.
Status OpenSslError(std::string_view call) {
  std::array<char, 256> buf{};
  const unsigned long err = ERR_get_error();
  if (err != 0) ERR_error_string_n(err, buf.data(), buf.size());
  ERR_clear_error();
  return Status::Internal(std::string(call) + ": " +
                          (err != 0 ? std::string(buf.data()) : std::string("failed")));
}


// Creates `path` exclusively with `mode` and runs `write` on a BIO over it, then fsyncs.
// Private keys go from OpenSSL to the file descriptor without passing through our buffers.
Status WritePemFile(const std::filesystem::path& path, unsigned mode,
                    const std::function<int(BIO*)>& write) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                     static_cast<mode_t>(mode)));
  if (!fd.valid()) return FileError("cannot create", path, errno);
  // Exactly `mode`: secrets stay 0600 whatever the umask, certificates are public.
  if (::fchmod(fd.get(), static_cast<mode_t>(mode)) != 0) {
    return FileError("cannot chmod", path, errno);
  }
  SslPtr<BIO> bio(BIO_new_fd(fd.get(), BIO_NOCLOSE));
  if (!bio || write(bio.get()) != 1 || BIO_flush(bio.get()) != 1) {
    return OpenSslError("PEM_write " + path.filename().string());
  }
  bio.reset();
  if (::fsync(fd.get()) != 0) return FileError("cannot sync", path, errno);
  return fd.Close(path.string());
}

Result<SslPtr<EVP_PKEY>> GenerateP256() {
  SslPtr<EVP_PKEY> key(EVP_EC_gen("P-256"));
  if (!key) return OpenSslError("EVP_EC_gen(P-256)");
  return key;
}

Status WritePrivateKey(const std::filesystem::path& path, EVP_PKEY* key) {
  return WritePemFile(path, 0600, [key](BIO* bio) {
    return PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  });
}

Status WriteCertificate(const std::filesystem::path& path, X509* cert) {
  return WritePemFile(path, 0644, [cert](BIO* bio) { return PEM_write_bio_X509(bio, cert); });
}

// A positive 127-bit random serial (RFC 5280: unique per CA, at most 20 octets).
Status SetRandomSerial(X509* cert) {
  std::array<std::uint8_t, 16> raw{};
  if (RAND_bytes(raw.data(), static_cast<int>(raw.size())) != 1) {
    return OpenSslError("RAND_bytes");
  }
  raw[0] = static_cast<std::uint8_t>((raw[0] & 0x7f) | 0x01);
  SslPtr<BIGNUM> bn(BN_bin2bn(raw.data(), static_cast<int>(raw.size()), nullptr));
  if (!bn || BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert)) == nullptr) {
    return OpenSslError("BN_to_ASN1_INTEGER");
  }
  return Status::Ok();
}

struct CertSpec {
  std::string_view common_name;
  long days = kLeafDays;
  // (NID, value in the openssl.cnf syntax), added in order; subjectKeyIdentifier comes
  // before authorityKeyIdentifier so that a self-signed certificate can name itself.
  std::vector<std::pair<int, std::string>> extensions;
};

// Issues a certificate for `subject_key`, signed by `issuer_key` under `issuer` (both null
// for a self-signed certificate, which is then signed by `subject_key`).
Result<SslPtr<X509>> IssueCertificate(const CertSpec& spec, EVP_PKEY* subject_key,
                                      X509* issuer, EVP_PKEY* issuer_key) {
  SslPtr<X509> cert(X509_new());
  if (!cert) return OpenSslError("X509_new");
  if (X509_set_version(cert.get(), X509_VERSION_3) != 1) return OpenSslError("X509_set_version");
  ESCROW_RETURN_IF_ERROR(SetRandomSerial(cert.get()));
  // Backdated an hour so that small clock differences between hosts do not matter.
  if (X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) == nullptr ||
      X509_gmtime_adj(X509_getm_notAfter(cert.get()), spec.days * kDaySeconds) == nullptr) {
    return OpenSslError("X509_gmtime_adj");
  }
  if (X509_set_pubkey(cert.get(), subject_key) != 1) return OpenSslError("X509_set_pubkey");

  SslPtr<X509_NAME> name(X509_NAME_new());
  if (!name) return OpenSslError("X509_NAME_new");
  const std::string cn(spec.common_name);
  if (X509_NAME_add_entry_by_txt(name.get(), "O", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(kOrganisation), -1, -1,
                                 0) != 1 ||
      X509_NAME_add_entry_by_txt(name.get(), "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1,
                                 0) != 1) {
    return OpenSslError("X509_NAME_add_entry_by_txt");
  }
  if (X509_set_subject_name(cert.get(), name.get()) != 1) {
    return OpenSslError("X509_set_subject_name");
  }
  X509_NAME* issuer_name = issuer != nullptr ? X509_get_subject_name(issuer) : name.get();
  if (X509_set_issuer_name(cert.get(), issuer_name) != 1) {
    return OpenSslError("X509_set_issuer_name");
  }

  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer != nullptr ? issuer : cert.get(), cert.get(), nullptr, nullptr, 0);
  for (const auto& [nid, value] : spec.extensions) {
    SslPtr<X509_EXTENSION> ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
    if (!ext) return OpenSslError(std::string("X509V3_EXT_conf_nid ") + OBJ_nid2sn(nid));
    if (X509_add_ext(cert.get(), ext.get(), -1) != 1) return OpenSslError("X509_add_ext");
  }

  EVP_PKEY* signer = issuer_key != nullptr ? issuer_key : subject_key;
  if (X509_sign(cert.get(), signer, EVP_sha256()) <= 0) return OpenSslError("X509_sign");
  return cert;
}

Result<std::string> SpkiFingerprint(EVP_PKEY* key) {
  unsigned char* der_out = nullptr;
  const int len = i2d_PUBKEY(key, &der_out);
  const SslBuffer<unsigned char> der(der_out);
  if (len <= 0 || der == nullptr) return OpenSslError("i2d_PUBKEY");
  std::array<std::uint8_t, 32> digest{};
  unsigned int digest_len = 0;
  const int ok = EVP_Digest(der.get(), static_cast<std::size_t>(len), digest.data(),
                            &digest_len, EVP_sha256(), nullptr);
  if (ok != 1 || digest_len != digest.size()) return OpenSslError("EVP_Digest(SHA-256)");
  return HexEncode(digest);
}

std::vector<std::pair<int, std::string>> LeafExtensions(std::string_view eku) {
  return {{NID_basic_constraints, "critical,CA:FALSE"},
          {NID_key_usage, "critical,digitalSignature"},
          {NID_ext_key_usage, std::string(eku)},
          {NID_subject_key_identifier, "hash"},
          {NID_authority_key_identifier, "keyid:always"}};
}

// Generates a key, issues its certificate under the CA and writes both.
Result<SslPtr<X509>> IssueAndWrite(const CertSpec& spec, X509* ca, EVP_PKEY* ca_key,
                                   const std::filesystem::path& cert_path,
                                   const std::filesystem::path& key_path) {
  ESCROW_ASSIGN_OR_RETURN(SslPtr<EVP_PKEY> key, GenerateP256());
  ESCROW_ASSIGN_OR_RETURN(SslPtr<X509> cert, IssueCertificate(spec, key.get(), ca, ca_key));
  ESCROW_RETURN_IF_ERROR(WritePrivateKey(key_path, key.get()));
  ESCROW_RETURN_IF_ERROR(WriteCertificate(cert_path, cert.get()));
  return cert;
}

}  // namespace

Result<DevPki> CreateDevPki(const std::filesystem::path& tls_dir,
                            std::span<const std::string> client_names) {
  DevPki pki;
  pki.ca_cert = tls_dir / "ca.crt";
  pki.ca_key = tls_dir / "ca.key";
  pki.server_cert = tls_dir / "server.crt";
  pki.server_key = tls_dir / "server.key";

  ESCROW_ASSIGN_OR_RETURN(SslPtr<EVP_PKEY> ca_key, GenerateP256());
  const CertSpec ca_spec{"Escrow Vault dev CA",
                         kCaDays,
                         {{NID_basic_constraints, "critical,CA:TRUE,pathlen:0"},
                          {NID_key_usage, "critical,keyCertSign,cRLSign"},
                          {NID_subject_key_identifier, "hash"},
                          {NID_authority_key_identifier, "keyid:always"}}};
  ESCROW_ASSIGN_OR_RETURN(SslPtr<X509> ca,
                          IssueCertificate(ca_spec, ca_key.get(), nullptr, nullptr));
  ESCROW_RETURN_IF_ERROR(WritePrivateKey(pki.ca_key, ca_key.get()));
  ESCROW_RETURN_IF_ERROR(WriteCertificate(pki.ca_cert, ca.get()));

  CertSpec server_spec{"localhost", kLeafDays, LeafExtensions("serverAuth")};
  server_spec.extensions.insert(server_spec.extensions.begin() + 3,
                                {NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1,IP:::1"});
  ESCROW_ASSIGN_OR_RETURN(SslPtr<X509> server, IssueAndWrite(server_spec, ca.get(), ca_key.get(),
                                                             pki.server_cert, pki.server_key));
  (void)server;

  for (const std::string& name : client_names) {
    DevClientCert client;
    client.name = name;
    client.cert_path = tls_dir / "clients" / (name + ".crt");
    client.key_path = tls_dir / "clients" / (name + ".key");
    const CertSpec spec{name, kLeafDays, LeafExtensions("clientAuth")};
    ESCROW_ASSIGN_OR_RETURN(SslPtr<X509> cert, IssueAndWrite(spec, ca.get(), ca_key.get(),
                                                             client.cert_path, client.key_path));
    ESCROW_ASSIGN_OR_RETURN(client.fingerprint, SpkiFingerprint(X509_get0_pubkey(cert.get())));
    pki.clients.push_back(std::move(client));
  }
  return pki;
}

Status CreateEcSigningKey(const std::filesystem::path& key_path,
                          const std::filesystem::path& pub_path) {
  ESCROW_ASSIGN_OR_RETURN(SslPtr<EVP_PKEY> key, GenerateP256());
  ESCROW_RETURN_IF_ERROR(WritePrivateKey(key_path, key.get()));
  EVP_PKEY* raw = key.get();
  return WritePemFile(pub_path, 0644, [raw](BIO* bio) { return PEM_write_bio_PUBKEY(bio, raw); });
}

Result<std::string> CertificateKeyFingerprint(const std::filesystem::path& path) {
  SslPtr<BIO> bio(BIO_new_file(path.c_str(), "r"));
  if (!bio) {
    ERR_clear_error();
    return Status::NotFound("cannot read " + path.string());
  }
  SslPtr<X509> cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) {
    ERR_clear_error();
    return Status::InvalidArgument(path.string() + " is not a PEM certificate");
  }
  return SpkiFingerprint(X509_get0_pubkey(cert.get()));
}

}  // namespace escrow::ops
