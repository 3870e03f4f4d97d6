#pragma once

// The pieces of a CMS EnvelopedData (RFC 5652) that opening it inside the HSM needs: each
// key-transport recipient's identifier, key-encryption algorithm and encrypted key, and the
// content cipher, IV and ciphertext. macOS escrows its FileVault recovery key to the MDM in
// this shape (API.md "Apple MDM escrow, opened inside the HSM"). Pure: no HSM, no I/O, and
// nothing here decrypts.

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include <openssl/types.h>

#include "base/bytes.h"
#include "base/result.h"

namespace escrow::vault {

// Bounds, checked before (input) or while (the rest) decoding. The route's 16 KiB JSON body
// holds at most 12 KiB of DER as base64.
inline constexpr std::size_t kMaxCmsBytes = std::size_t{12} * 1024;
inline constexpr std::size_t kMaxCmsRecipients = 8;          // RecipientInfos of every kind
inline constexpr std::size_t kMaxCmsEncryptedKeyBytes = 512;  // RSA 4096
inline constexpr std::size_t kMaxCmsContentBytes = std::size_t{4} * 1024;

enum class KeyEncryption { kRsaPkcs1v15, kRsaOaep };
enum class OaepHash { kSha1, kSha256, kSha384, kSha512 };
enum class ContentCipher { kAes128Cbc, kAes192Cbc, kAes256Cbc, kDesEde3Cbc };

// How a recipient names its certificate (RFC 5652 RecipientIdentifier).
struct RecipientId {
  enum class Kind { kIssuerAndSerial, kSubjectKeyId };
  Kind kind = Kind::kIssuerAndSerial;
  Bytes issuer_der;      // kIssuerAndSerial: the issuer Name, DER as it came
  Bytes serial;          // kIssuerAndSerial: big-endian magnitude, no leading zeros (>= 0)
  Bytes subject_key_id;  // kSubjectKeyId: the key identifier octets
};

// One KeyTransRecipientInfo.
struct Recipient {
  RecipientId id;
  KeyEncryption key_encryption = KeyEncryption::kRsaPkcs1v15;
  // kRsaOaep only (label always empty): the OAEP hash and MGF1's hash, each defaulting to
  // SHA-1 when absent, as RFC 4055 says.
  OaepHash oaep_hash = OaepHash::kSha1;
  OaepHash mgf1_hash = OaepHash::kSha1;
  Bytes encrypted_key;  // 1..kMaxCmsEncryptedKeyBytes
};

struct Envelope {
  std::vector<Recipient> recipients;   // key transport only, in the envelope's order; >= 1
  std::size_t skipped_recipients = 0;  // kari, kekri, pwri, ori: counted, not returned
  // The content type is always id-data (checked), so it is not kept.
  ContentCipher cipher = ContentCipher::kAes256Cbc;
  Bytes iv;                 // CipherIvBytes(cipher) long
  Bytes encrypted_content;  // a non-zero multiple of CipherBlockBytes(cipher), bounded
};

std::size_t CipherKeyBytes(ContentCipher cipher);    // 16, 24, 32; 24 for DES-EDE3
std::size_t CipherBlockBytes(ContentCipher cipher);  // 16; 8 for DES-EDE3
std::size_t CipherIvBytes(ContentCipher cipher);     // = the block size for CBC
const char* ContentCipherName(ContentCipher cipher);  // "aes-256-cbc", ... for audit records

// Decodes a DER (or BER, where OpenSSL's decoder takes it) ContentInfo holding an
// EnvelopedData: OpenSSL's CMS code accepts and type-checks it, a second narrow decoding
// (vault/cms_asn1.h) reads the fields its API hides, and the two must agree. Each failure is
// kInvalidArgument with reason "invalid_cms" and a short cause meant for the audit record
// only ("not DER", "not enveloped data", "too large", "unsupported content cipher", ...);
// the input is never echoed.
Result<Envelope> ParseEnvelope(std::span<const std::uint8_t> der);

// A certificate the vault could open envelopes with. `accepts_subject_key_id`: whether a
// recipient naming it by subject key identifier counts (fleet certificates only; a
// per-device certificate is bound to its device by its serial, so only issuer and serial
// may name it). The X509 is borrowed.
struct CandidateCertificate {
  X509* cert = nullptr;
  bool accepts_subject_key_id = false;
};

struct RecipientMatch {
  std::size_t recipient = 0;  // index into the recipients
  std::size_t candidate = 0;  // index into the candidates
};

// Every (recipient, candidate) pair where the recipient names the certificate: by issuer
// (X509_NAME_cmp, as OpenSSL's CMS code compares) and serial, or by subject key identifier
// where the candidate accepts it. In recipient order, then candidate order; empty if none.
std::vector<RecipientMatch> MatchRecipients(std::span<const Recipient> recipients,
                                            std::span<const CandidateCertificate> candidates);

}  // namespace escrow::vault
