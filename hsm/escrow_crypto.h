#pragma once

// What the escrow keys compute inside the token: the CA's ECDSA signature and the opening of
// a CMS envelope (unwrap the content-encryption key, decrypt the content). Private to hsm/:
// includes pkcs11.h. REQUIRES for every function: the session is logged in.

#include <cstdint>
#include <span>

#include <p11-kit/pkcs11.h>

#include "base/bytes.h"
#include "base/result.h"
#include "hsm/escrow_keys.h"
#include "hsm/pkcs11_session.h"

namespace escrow::hsm {

// CKM_ECDSA over SHA-256(data) (hashed by OpenSSL), the token's r||s re-encoded as a DER
// ECDSA-Sig-Value. REQUIRES: `key` is a P-256 private key allowed to sign.
Result<Bytes> EcdsaSignSha256(Pkcs11Session& session, CK_OBJECT_HANDLE key,
                              std::span<const std::uint8_t> data);

// Whether the module computes OAEP with these digests. SoftHSMv2 2.6 unwraps OAEP only with
// SHA-1 and MGF1-SHA-1 (it answers anything else CKR_ARGUMENTS_BAD, which we could not tell
// from a bad block); the envelope's algorithm is public, so refusing early leaks nothing.
bool OaepSupported(OaepDigest hash, OaepDigest mgf1_hash);

// KeyService::OpenEnvelope's work once the escrow key is found. `unwrapping_key` is the
// escrow-cms private key. Every session object it creates is destroyed before it returns.
// A session-level CK_RV gives cause kHsmUnavailable (and stays the session's last_error, so
// the lane reconnects); every other failure gives one of the 400 causes.
OpenedEnvelope OpenEnvelopeInToken(Pkcs11Session& session, CK_OBJECT_HANDLE unwrapping_key,
                                   const EnvelopeToOpen& envelope);

}  // namespace escrow::hsm
