#pragma once

// AES-GCM and HMAC-SHA256 computed by the token. Private to hsm/: includes pkcs11.h.
// REQUIRES for every function: the session is logged in and `key` allows the operation.

#include <cstdint>
#include <span>

#include <p11-kit/pkcs11.h>

#include "base/result.h"
#include "base/secret_bytes.h"
#include "hsm/key_service.h"
#include "hsm/pkcs11_session.h"

namespace escrow::hsm {

inline constexpr std::size_t kGcmIvBytes = 12;
inline constexpr std::size_t kGcmTagBytes = 16;

// CKM_AES_GCM with a fresh IV from RAND_bytes and a 128-bit tag. kInternal if the RNG fails.
Result<Sealed> GcmEncrypt(Pkcs11Session& session, CK_OBJECT_HANDLE key,
                          std::span<const std::uint8_t> plaintext,
                          std::span<const std::uint8_t> aad);
// The same with the caller's IV: only for the fixed-input check value (DerivedCheckValue),
// never for a record (an IV must never repeat under one key for two messages).
Result<Sealed> GcmEncryptWithIv(Pkcs11Session& session, CK_OBJECT_HANDLE key,
                                std::span<const std::uint8_t, kGcmIvBytes> iv,
                                std::span<const std::uint8_t> plaintext,
                                std::span<const std::uint8_t> aad);

// C_Decrypt of ciphertext||tag into secure memory. Returns the token's error as is: a bad tag
// and a faulty token can give the same CKR_ code (SoftHSMv2 answers CKR_GENERAL_ERROR to both;
// NSS's softoken CKR_ENCRYPTED_DATA_INVALID to a bad tag), so the caller decides (KeyService
// runs the known-answer probe).
// REQUIRES: iv is kGcmIvBytes and tag is kGcmTagBytes long.
Result<SecretBytes> GcmDecrypt(Pkcs11Session& session, CK_OBJECT_HANDLE key,
                               const Sealed& sealed, std::span<const std::uint8_t> aad);

// CKM_SHA256_HMAC.
Result<Mac> HmacSign(Pkcs11Session& session, CK_OBJECT_HANDLE key,
                     std::span<const std::uint8_t> data);
// OK if `mac` is the HMAC of `data`; kDataLoss if not (CKR_SIGNATURE_INVALID / _LEN_RANGE).
Status HmacVerify(Pkcs11Session& session, CK_OBJECT_HANDLE key,
                  std::span<const std::uint8_t> data, std::span<const std::uint8_t> mac);

}  // namespace escrow::hsm
