#pragma once

// The public types of Apple MDM escrow's keys in the HSM (API.md, "Apple MDM escrow, opened
// inside the HSM"): the escrow key pairs that CMS envelopes are addressed to, the escrow CA key
// that signs their certificates, and the pieces of one envelope that KeyService::OpenEnvelope
// opens inside the token. No PKCS#11 types: callers (vault/) fill these from the CMS parser.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "base/bytes.h"
#include "base/result.h"
#include "base/secret_bytes.h"

namespace escrow::hsm {

// The vault's asymmetric key pairs. Deliberately not KeyRoles: KeyRole's keys are symmetric
// secrets that ListKeys, key backup, restore, rotate and vaultd's release check iterate, wrap
// and HMAC; an RSA or EC private key can do none of that. Each kind has exactly one job:
//   kCms  escrow-cms-v<N>: RSA 2048 or 3072; the private key may only C_UnwrapKey (no decrypt,
//         no sign), so all it can ever yield is a content-encryption key that stays inside the
//         token as a sensitive session object.
//   kCa   escrow-ca-v<N>: ECDSA P-256; the private key may only sign (certificates).
//   kAuditSign  escrow-audit-sign-v<N>: ECDSA P-256; the private key may only sign (the audit
//         trail's checkpoints, API.md "HSM modules and signed audit checkpoints").
// Every private key is sensitive and never extractable (not even for backup): an escrow key
// only carries envelopes in transit, so a lost token costs new certificates, not stored keys;
// a lost checkpoint key costs a new key version, and its public key stays in the database.
enum class EscrowKeyKind { kCms, kCa, kAuditSign };

// The kinds whose private key is an ECDSA P-256 signing key (KeyService::EcdsaSign).
constexpr bool IsSigningKind(EscrowKeyKind kind) {
  return kind == EscrowKeyKind::kCa || kind == EscrowKeyKind::kAuditSign;
}

// "escrow-cms-v<N>", "escrow-ca-v<N>" or "escrow-audit-sign-v<N>".
std::string EscrowKeyLabel(EscrowKeyKind kind, std::uint32_t version);
// "escrow-cms-v", "escrow-ca-v" or "escrow-audit-sign-v".
std::string_view EscrowKeyLabelPrefix(EscrowKeyKind kind);

// What the token says about an escrow key pair. The public half only: never private material.
struct EscrowKeyInfo {
  EscrowKeyKind kind = EscrowKeyKind::kCms;
  std::uint32_t version = 0;
  std::string label;         // EscrowKeyLabel(kind, version)
  Bytes public_key_der;      // SubjectPublicKeyInfo, DER (built from the token's public key)
  std::uint32_t bits = 0;    // RSA modulus bits, or 256 for P-256
  bool sensitive = true;     // the private key's CKA_SENSITIVE
  bool extractable = false;  // the private key's CKA_EXTRACTABLE
};

inline constexpr std::uint32_t kCmsKeyBits2048 = 2048;
inline constexpr std::uint32_t kCmsKeyBits3072 = 3072;

// How the content-encryption key was encrypted to the escrow key (the recipient's
// keyEncryptionAlgorithm). OAEP's label must be empty (CMS's default pSourceFunc): the parser
// refuses any other before it gets here.
enum class KeyTransport { kRsaPkcs1v15, kRsaOaep };
enum class OaepDigest { kSha1, kSha224, kSha256, kSha384, kSha512 };
struct KeyTransportAlgorithm {
  KeyTransport scheme = KeyTransport::kRsaPkcs1v15;
  OaepDigest oaep_hash = OaepDigest::kSha1;  // OAEP only
  OaepDigest mgf1_hash = OaepDigest::kSha1;  // OAEP only
};

// The content-encryption algorithm (always CBC with PKCS#7 padding in CMS).
enum class ContentCipher { kAes128Cbc, kAes192Cbc, kAes256Cbc, kDesEde3Cbc };
// Key length and block (= IV) length in bytes.
std::size_t ContentKeyBytes(ContentCipher cipher);
std::size_t ContentBlockBytes(ContentCipher cipher);

// One envelope's pieces for one recipient, as the CMS parser yields them. Spans borrow the
// caller's buffers for the duration of the call.
struct EnvelopeToOpen {
  std::uint32_t escrow_key_version = 0;  // the escrow-cms-v<N> the recipient names
  KeyTransportAlgorithm key_transport;
  std::span<const std::uint8_t> encrypted_key;  // the recipient's encryptedKey
  ContentCipher cipher = ContentCipher::kAes256Cbc;
  std::span<const std::uint8_t> iv;
  std::span<const std::uint8_t> ciphertext;  // encryptedContent
};

// Why an envelope did not open. For the audit record only: callers answer every cause the
// same (API.md's 400 invalid_cms), so that nothing about padding or keys leaks.
enum class EnvelopeCause {
  kNone,                  // opened
  kMalformed,             // sizes that cannot be right (IV, block multiple, key size)
  kNoSuchKey,             // no escrow-cms-v<N> on the token
  kMechanismUnsupported,  // e.g. OAEP with SHA-256 on SoftHSMv2 (only SHA-1 there)
  kUnwrap,                // the token could not unwrap a key of the cipher's type and length
  kDecrypt,               // the content did not decrypt (padding) under the unwrapped key
  kHsmUnavailable,        // session, token or module lost: an outage (kUnavailable), not 400
};
// "malformed", "no such key", "mechanism unsupported", "unwrap", "decrypt", "hsm unavailable".
std::string_view EnvelopeCauseText(EnvelopeCause cause);

// The reason (API.md error code) and the one message of every envelope that does not open.
inline constexpr std::string_view kInvalidCms = "invalid_cms";
inline constexpr std::string_view kEnvelopeDoesNotOpen = "the envelope does not open";

// The outcome of OpenEnvelope: the content (in secure memory) or a Status that is
//   kInvalidArgument, reason kInvalidCms, message kEnvelopeDoesNotOpen, for every cause but
//   kUnavailable for kHsmUnavailable (retry later; nothing about the envelope is known).
// `cause` says why, for the audit record; never put it in an answer.
struct OpenedEnvelope {
  Result<SecretBytes> content = Status::Internal("unset");
  EnvelopeCause cause = EnvelopeCause::kNone;
};

// The Status OpenedEnvelope carries for a failure with `cause` (REQUIRES: cause != kNone).
Status EnvelopeFailure(EnvelopeCause cause);

}  // namespace escrow::hsm
