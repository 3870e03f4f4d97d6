#include "vault/escrow_cert.h"

#include <array>
#include <string>

#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "base/ssl_ptr.h"

namespace escrow::vault {
namespace {

constexpr std::int64_t kSecondsPerDay = 86400;
constexpr std::size_t kMaxCnChars = 64;  // X.520's upper bound for commonName
constexpr std::size_t kMaxDeviceIdChars = 256;

template <class T>
Result<SslPtr<T>> Decode(std::span<const std::uint8_t> der, T* (*d2i)(T**, const unsigned char**,
                                                                       long),
                         const char* what) {
  const unsigned char* p = der.data();
  SslPtr<T> out(d2i(nullptr, &p, static_cast<long>(der.size())));
  if (!out || p != der.data() + der.size()) {
    return Status::InvalidArgument(std::string(what) + " does not decode");
  }
  return out;
}

Status CheckFields(const CertificateFields& f) {
  if (f.subject_cn.empty() || f.subject_cn.size() > kMaxCnChars) {
    return Status::InvalidArgument("the subject CN must have 1 to 64 characters");
  }
  if (f.device_id && (f.device_id->empty() || f.device_id->size() > kMaxDeviceIdChars)) {
    return Status::InvalidArgument("a device ID in a certificate has 1 to 256 characters");
  }
  if (f.days == 0 || f.days > kMaxCertificateDays) {
    return Status::InvalidArgument("a certificate is valid for 1 to " +
                                   std::to_string(kMaxCertificateDays) + " days");
  }
  if (f.serial.size() != kSerialBytes || f.serial[0] == 0 || f.serial[0] > 0x7f) {
    return Status::InvalidArgument("the serial must come from NewSerial");
  }
  return Status::Ok();
}

Result<SslPtr<X509_NAME>> SubjectName(const CertificateFields& f) {
  SslPtr<X509_NAME> name(X509_NAME_new());
  const auto add = [&](const char* field, const std::string& value) {
    return X509_NAME_add_entry_by_txt(name.get(), field, MBSTRING_UTF8,
                                      reinterpret_cast<const unsigned char*>(value.data()),  // NOLINT
                                      static_cast<int>(value.size()), -1, 0) == 1;
  };
  if (!name || !add("CN", f.subject_cn) || (f.device_id && !add("UID", *f.device_id))) {
    return Status::InvalidArgument("the subject name cannot be encoded");
  }
  return name;
}

// Everything but the extensions and the signature.
Result<SslPtr<X509>> NewCertificate(const CertificateFields& f, const X509_NAME* issuer,
                                    EVP_PKEY& subject_key) {
  ESCROW_ASSIGN_OR_RETURN(SslPtr<X509_NAME> subject, SubjectName(f));
  SslPtr<X509> cert(X509_new());
  SslPtr<BIGNUM> serial_bn(BN_bin2bn(f.serial.data(), static_cast<int>(f.serial.size()), nullptr));
  SslPtr<ASN1_INTEGER> serial(serial_bn ? BN_to_ASN1_INTEGER(serial_bn.get(), nullptr) : nullptr);
  SslPtr<ASN1_TIME> not_before(ASN1_TIME_set(nullptr, static_cast<time_t>(f.not_before)));
  SslPtr<ASN1_TIME> not_after(ASN1_TIME_set(
      nullptr, static_cast<time_t>(f.not_before + std::int64_t{f.days} * kSecondsPerDay)));
  if (!cert || !serial || !not_before || !not_after ||
      X509_set_version(cert.get(), X509_VERSION_3) != 1 ||
      X509_set_serialNumber(cert.get(), serial.get()) != 1 ||
      X509_set_subject_name(cert.get(), subject.get()) != 1 ||
      X509_set_issuer_name(cert.get(), issuer != nullptr ? issuer : subject.get()) != 1 ||
      X509_set1_notBefore(cert.get(), not_before.get()) != 1 ||
      X509_set1_notAfter(cert.get(), not_after.get()) != 1 ||
      X509_set_pubkey(cert.get(), &subject_key) != 1) {
    return Status::Internal("the certificate's fields cannot be set");
  }
  return cert;
}

// `ctx` names the issuer certificate (the certificate itself when self-signed).
Status AddExtension(X509& cert, X509V3_CTX& ctx, int nid, const char* value) {
  SslPtr<X509_EXTENSION> ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
  if (!ext || X509_add_ext(&cert, ext.get(), -1) != 1) {
    return Status::Internal(std::string("the extension ") + OBJ_nid2sn(nid) + " cannot be added");
  }
  return Status::Ok();
}

void AppendTlv(Bytes& out, std::uint8_t tag, std::span<const std::uint8_t> content) {
  out.push_back(tag);
  const std::size_t n = content.size();
  if (n < 0x80) {
    out.push_back(static_cast<std::uint8_t>(n));
  } else {
    Bytes len;
    for (std::size_t v = n; v != 0; v >>= 8) len.insert(len.begin(), static_cast<std::uint8_t>(v));
    out.push_back(static_cast<std::uint8_t>(0x80 | len.size()));
    out.insert(out.end(), len.begin(), len.end());
  }
  out.insert(out.end(), content.begin(), content.end());
}

std::string Sha256Hex(std::span<const std::uint8_t> der) {
  std::array<std::uint8_t, EVP_MAX_MD_SIZE> digest{};
  unsigned int len = 0;
  if (EVP_Digest(der.data(), der.size(), digest.data(), &len, EVP_sha256(), nullptr) != 1) {
    return {};
  }
  return HexEncode(std::span<const std::uint8_t>(digest.data(), len));
}

// Sets ecdsa-with-SHA256 in the TBS, has the HSM sign the TBS, assembles
// SEQUENCE { tbs, algorithm, BIT STRING signature }, decodes it back and checks it verifies
// under `issuer_key`: a certificate that does not verify is never handed out.
Result<IssuedCertificate> SignInHsm(hsm::KeyService& keys, std::uint32_t ca_version, X509& cert,
                                    const CertificateFields& f, EVP_PKEY& issuer_key) {
  // OpenSSL has no setter for the TBS's signature field; X509_sign would set it the same way.
  auto* alg = const_cast<X509_ALGOR*>(X509_get0_tbs_sigalg(&cert));  // NOLINT
  if (X509_ALGOR_set0(alg, OBJ_nid2obj(NID_ecdsa_with_SHA256), V_ASN1_UNDEF, nullptr) != 1) {
    return Status::Internal("X509_ALGOR_set0 failed");
  }
  unsigned char* tbs_raw = nullptr;
  const int tbs_len = i2d_re_X509_tbs(&cert, &tbs_raw);
  const SslBuffer<unsigned char> tbs_owner(tbs_raw);
  unsigned char* alg_raw = nullptr;
  const int alg_len = i2d_X509_ALGOR(alg, &alg_raw);
  const SslBuffer<unsigned char> alg_owner(alg_raw);
  if (tbs_len <= 0 || alg_len <= 0) return Status::Internal("the TBS does not encode");
  const std::span<const std::uint8_t> tbs(tbs_raw, static_cast<std::size_t>(tbs_len));
  ESCROW_ASSIGN_OR_RETURN(const Bytes signature,
                          keys.EcdsaSign(hsm::EscrowKeyKind::kCa, ca_version, tbs));

  Bytes bits{0x00};  // no unused bits
  bits.insert(bits.end(), signature.begin(), signature.end());
  Bytes body(tbs.begin(), tbs.end());
  body.insert(body.end(), alg_raw, alg_raw + alg_len);
  AppendTlv(body, 0x03, bits);
  IssuedCertificate issued;
  AppendTlv(issued.der, 0x30, body);

  ESCROW_ASSIGN_OR_RETURN(SslPtr<X509> decoded, Decode<X509>(issued.der, d2i_X509, "certificate"));
  if (X509_verify(decoded.get(), &issuer_key) != 1) {
    return Status::Internal("the HSM's signature does not verify under the issuer's key");
  }
  issued.serial_hex = HexEncode(f.serial);
  issued.not_before = f.not_before;
  issued.not_after = f.not_before + std::int64_t{f.days} * kSecondsPerDay;
  issued.sha256_hex = Sha256Hex(issued.der);
  return issued;
}

}  // namespace

Result<Bytes> NewSerial() {
  Bytes serial(kSerialBytes);
  if (RAND_bytes(serial.data(), static_cast<int>(serial.size())) != 1) {
    return Status::Internal("RAND_bytes failed to make a serial");
  }
  serial[0] &= 0x7f;              // positive
  if (serial[0] == 0) serial[0] = 1;  // and exactly 16 bytes long in DER
  return serial;
}

Result<IssuedCertificate> IssueCaCertificate(hsm::KeyService& keys, const hsm::EscrowKeyInfo& ca,
                                             const CertificateFields& fields) {
  ESCROW_RETURN_IF_ERROR(CheckFields(fields));
  if (ca.kind != hsm::EscrowKeyKind::kCa) return Status::InvalidArgument("not a CA key");
  ESCROW_ASSIGN_OR_RETURN(SslPtr<EVP_PKEY> key,
                          Decode<EVP_PKEY>(ca.public_key_der, d2i_PUBKEY, "the CA public key"));
  ESCROW_ASSIGN_OR_RETURN(SslPtr<X509> cert, NewCertificate(fields, nullptr, *key));
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
  ESCROW_RETURN_IF_ERROR(
      AddExtension(*cert, ctx, NID_basic_constraints, "critical,CA:TRUE,pathlen:0"));
  ESCROW_RETURN_IF_ERROR(AddExtension(*cert, ctx, NID_key_usage, "critical,keyCertSign,cRLSign"));
  ESCROW_RETURN_IF_ERROR(AddExtension(*cert, ctx, NID_subject_key_identifier, "hash"));
  ESCROW_RETURN_IF_ERROR(AddExtension(*cert, ctx, NID_authority_key_identifier, "keyid:always"));
  return SignInHsm(keys, ca.version, *cert, fields, *key);
}

Result<IssuedCertificate> IssueEscrowCertificate(hsm::KeyService& keys, std::uint32_t ca_version,
                                                 std::span<const std::uint8_t> ca_cert_der,
                                                 const hsm::EscrowKeyInfo& escrow,
                                                 const CertificateFields& fields) {
  ESCROW_RETURN_IF_ERROR(CheckFields(fields));
  if (escrow.kind != hsm::EscrowKeyKind::kCms) return Status::InvalidArgument("not an escrow key");
  ESCROW_ASSIGN_OR_RETURN(SslPtr<X509> ca, Decode<X509>(ca_cert_der, d2i_X509, "the CA certificate"));
  ESCROW_ASSIGN_OR_RETURN(SslPtr<EVP_PKEY> key, Decode<EVP_PKEY>(escrow.public_key_der, d2i_PUBKEY,
                                                                 "the escrow public key"));
  EVP_PKEY* ca_key = X509_get0_pubkey(ca.get());
  if (ca_key == nullptr) return Status::InvalidArgument("the CA certificate has no usable key");
  ESCROW_ASSIGN_OR_RETURN(SslPtr<X509> cert,
                          NewCertificate(fields, X509_get_subject_name(ca.get()), *key));
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, ca.get(), cert.get(), nullptr, nullptr, 0);
  ESCROW_RETURN_IF_ERROR(AddExtension(*cert, ctx, NID_basic_constraints, "CA:FALSE"));
  // Key transport only: the Mac encrypts a content key to it; nothing is signed with it.
  ESCROW_RETURN_IF_ERROR(AddExtension(*cert, ctx, NID_key_usage, "critical,keyEncipherment"));
  ESCROW_RETURN_IF_ERROR(AddExtension(*cert, ctx, NID_subject_key_identifier, "hash"));
  ESCROW_RETURN_IF_ERROR(AddExtension(*cert, ctx, NID_authority_key_identifier, "keyid:always"));
  return SignInHsm(keys, ca_version, *cert, fields, *ca_key);
}

Result<std::string> CertificateCommonName(std::span<const std::uint8_t> der) {
  ESCROW_ASSIGN_OR_RETURN(SslPtr<X509> cert, Decode<X509>(der, d2i_X509, "the certificate"));
  const X509_NAME* name = X509_get_subject_name(cert.get());
  const int at = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (at < 0) return Status::InvalidArgument("the certificate has no commonName");
  const ASN1_STRING* value = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, at));
  unsigned char* utf8 = nullptr;
  const int len = ASN1_STRING_to_UTF8(&utf8, value);
  const SslBuffer<unsigned char> owner(utf8);
  if (len < 0) return Status::InvalidArgument("the commonName does not decode");
  return std::string(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(len));  // NOLINT
}

std::string CertificatePem(std::span<const std::uint8_t> der) {
  std::string pem = "-----BEGIN CERTIFICATE-----\n";
  constexpr std::size_t kChunk = 48;  // 64 base64 characters a line
  std::array<unsigned char, 65> line{};
  for (std::size_t at = 0; at < der.size(); at += kChunk) {
    const std::size_t n = std::min(kChunk, der.size() - at);
    const int len = EVP_EncodeBlock(line.data(), der.data() + at, static_cast<int>(n));
    pem.append(reinterpret_cast<const char*>(line.data()), static_cast<std::size_t>(len));  // NOLINT
    pem.push_back('\n');
  }
  pem += "-----END CERTIFICATE-----\n";
  return pem;
}

}  // namespace escrow::vault
