#pragma once

// The escrow key pairs on a token (hsm/escrow_keys.h): generation with exactly one job per
// private key, lookup, listing, destruction, and the public key as a SubjectPublicKeyInfo.
// Private to hsm/: includes pkcs11.h. REQUIRES for every function: the session is logged in.

#include <cstdint>
#include <optional>
#include <vector>

#include <p11-kit/pkcs11.h>

#include "base/result.h"
#include "hsm/escrow_keys.h"
#include "hsm/pkcs11_session.h"

namespace escrow::hsm {

// Both halves of one escrow key pair (same CKA_LABEL and CKA_ID).
struct EscrowKeyPair {
  CK_OBJECT_HANDLE private_key = CK_INVALID_HANDLE;
  CK_OBJECT_HANDLE public_key = CK_INVALID_HANDLE;
};

struct LabelledEscrowKey {
  EscrowKeyKind kind;
  std::uint32_t version;
};
// The inverse of EscrowKeyLabel (decimal version, no sign or leading zeros, 32 bits).
std::optional<LabelledEscrowKey> ParseEscrowKeyLabel(std::string_view label);

// Generates escrow-cms-v<version> (RSA of `bits`; the private key unwrap only).
// REQUIRES: bits is kCmsKeyBits2048 or kCmsKeyBits3072; no object carries the label.
Result<EscrowKeyPair> GenerateCmsKeyPair(Pkcs11Session& session, std::uint32_t version,
                                         std::uint32_t bits);
// Generates escrow-ca-v<version> or escrow-audit-sign-v<version> (EC P-256; the private key
// sign only). REQUIRES: IsSigningKind(kind); no object carries the label.
Result<EscrowKeyPair> GenerateSigningKeyPair(Pkcs11Session& session, EscrowKeyKind kind,
                                             std::uint32_t version);

// The pair labelled EscrowKeyLabel(kind, version), of the kind's key type. kNotFound if either
// half is absent; kFailedPrecondition if several objects claim one half.
Result<EscrowKeyPair> FindEscrowKeyPair(Pkcs11Session& session, EscrowKeyKind kind,
                                        std::uint32_t version);

// The public key as DER SubjectPublicKeyInfo (OpenSSL, from CKA_MODULUS and
// CKA_PUBLIC_EXPONENT, or CKA_EC_POINT), its size, and the private key's flags.
Result<EscrowKeyInfo> ReadEscrowKeyInfo(Pkcs11Session& session, const EscrowKeyPair& pair,
                                        EscrowKeyKind kind, std::uint32_t version);

// Every escrow key pair on the token, by kind then version. Objects under another name, or of
// another key type under an escrow label, are not the vault's and are skipped.
Result<std::vector<EscrowKeyInfo>> ListEscrowKeyPairs(Pkcs11Session& session);

}  // namespace escrow::hsm
