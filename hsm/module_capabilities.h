#pragma once

// Finding what a PKCS#11 module can do (ModuleCapabilities), and the key check value of a
// module without CKA_CHECK_VALUE. Private to hsm/: includes pkcs11.h.

#include <string>

#include <p11-kit/pkcs11.h>

#include "base/result.h"
#include "hsm/key_service.h"
#include "hsm/pkcs11_session.h"

namespace escrow::hsm {

// Asks the module, on a logged-in session: the mechanisms the vault needs (kFailedPrecondition
// naming the first one missing: CKM_AES_GCM encrypt and decrypt, CKM_SHA256_HMAC sign and
// verify, CKM_AES_KEY_GEN, CKM_GENERIC_SECRET_KEY_GEN); then, on a session AES key made for
// the purpose and destroyed: CKA_CHECK_VALUE, the GCM check value, C_CopyObject; whether it
// keeps private data objects; whether it is SoftHSMv2 (its file store) or NSS's softoken (no SO
// user: its SO logs in only once, with the empty PIN, to set the first user PIN).
// kUnavailable if the session or token fails meanwhile.
Result<ModuleCapabilities> DetectCapabilities(Pkcs11Session& session, const TokenInfo& token);

// Whether the module gives secret keys a CKA_CHECK_VALUE (asked on a session key made for the
// purpose and destroyed). kUnavailable if the session or token fails meanwhile.
Result<bool> ModuleKeepsCheckValues(Pkcs11Session& session);

// Whether the module has a security officer who can log in: false for NSS's softoken, whose
// SO logs in only once, with the empty PIN, to set the first user PIN (CKR_USER_TYPE_INVALID
// after that). Known by the token's manufacturer and model: asking would need an SO login,
// and a wrong SO PIN counts towards a real HSM's lockout.
bool ModuleHasSoUser(const TokenInfo& token);

// The Status of a backup on such a module (kFailedPrecondition, reason "no_so_user").
Status NoSoUser(std::string_view detail);

// The key check value of `key` when the token has no CKA_CHECK_VALUE (see KeyInfo): for the
// master key (AES, encrypt only) the first 3 bytes of the GCM tag of an empty message under a
// fixed IV and fixed associated data; for a MAC key, the first 3 bytes of its HMAC-SHA256 of a
// fixed block. Both are 24 bits of one keyed PRF output of public input that the vault never
// otherwise encrypts or MACs, which reveals no more than CKA_CHECK_VALUE's 3 bytes of E_K(0).
// (The full encryption of a zero block would be GCM's hash key: never that.) kNotFound if the
// module refuses (then the check value is "n/a"); other codes as the PKCS#11 calls.
Result<std::string> DerivedCheckValue(Pkcs11Session& session, CK_OBJECT_HANDLE key, KeyRole role);

}  // namespace escrow::hsm
