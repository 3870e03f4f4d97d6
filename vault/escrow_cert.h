#pragma once

// X.509 certificates for Apple MDM escrow (API.md, "Apple MDM escrow, opened inside the HSM"),
// built with OpenSSL and signed inside the HSM by the escrow CA key (KeyService::EcdsaSign): the
// private keys never leave the token. Three kinds:
//   CA       self-signed, of escrow-ca-v<N>: basicConstraints CA:TRUE (critical), keyUsage
//            keyCertSign and cRLSign (critical).
//   fleet    of an escrow-cms-v<N> key, one profile for every Mac: keyUsage keyEncipherment
//            (critical), basicConstraints CA:FALSE.
//   device   the same, with the device's ID in the subject (UID) and its own random serial, so
//            that an envelope addressed to it (issuer and serial) names the device.
// Every certificate has a random positive 16-byte serial, subjectKeyIdentifier (SHA-1 of the
// public key, RFC 5280 method 1: what `openssl cms -encrypt -keyid` addresses) and
// authorityKeyIdentifier, and is signed ecdsa-with-SHA256. Stateless functions.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "base/bytes.h"
#include "base/result.h"
#include "hsm/key_service.h"

namespace escrow::vault {

inline constexpr std::size_t kSerialBytes = 16;
inline constexpr std::uint32_t kMaxCertificateDays = 3650;

// A fresh random serial: kSerialBytes bytes, first byte in 0x01..0x7f (a positive INTEGER
// whose DER is exactly these bytes, so the hex names it unambiguously). kInternal if the RNG
// fails.
Result<Bytes> NewSerial();

struct CertificateFields {
  std::string subject_cn;                // 1..64 characters
  std::optional<std::string> device_id;  // device certificates: the subject's UID
  Bytes serial;                          // NewSerial()
  std::int64_t not_before = 0;           // unix seconds
  std::uint32_t days = 0;                // 1..kMaxCertificateDays; not_after = not_before + days
};

struct IssuedCertificate {
  Bytes der;
  std::string serial_hex;  // lowercase, 32 digits
  std::int64_t not_before = 0;
  std::int64_t not_after = 0;
  std::string sha256_hex;  // of `der`, lowercase
};

// The self-signed certificate of escrow-ca-v<ca.version>, signed by that key in the HSM.
// kInvalidArgument for bad fields; the HSM's Status if EcdsaSign fails; kInternal if the result
// does not verify under `ca`'s public key.
Result<IssuedCertificate> IssueCaCertificate(hsm::KeyService& keys, const hsm::EscrowKeyInfo& ca,
                                             const CertificateFields& fields);

// A certificate of the escrow key `escrow` (an escrow-cms key's public key), issued and signed
// by escrow-ca-v<ca_version> whose certificate is `ca_cert_der`. A device certificate when
// fields.device_id is set, else a fleet certificate. Errors as IssueCaCertificate; kInternal if
// the result does not verify under the CA certificate's key (the CA key on the token is not the
// one the certificate names).
Result<IssuedCertificate> IssueEscrowCertificate(hsm::KeyService& keys, std::uint32_t ca_version,
                                                 std::span<const std::uint8_t> ca_cert_der,
                                                 const hsm::EscrowKeyInfo& escrow,
                                                 const CertificateFields& fields);

// The subject's first commonName of a DER certificate. kInvalidArgument if it does not decode
// or has none.
Result<std::string> CertificateCommonName(std::span<const std::uint8_t> der);

// "-----BEGIN CERTIFICATE-----" PEM of a DER certificate (64-character lines).
std::string CertificatePem(std::span<const std::uint8_t> der);

}  // namespace escrow::vault
