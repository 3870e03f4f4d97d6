#pragma once

// The HSM's known-answer self test. Private to hsm/: includes pkcs11.h.

#include <p11-kit/pkcs11.h>

#include "base/status.h"
#include "hsm/pkcs11_session.h"

namespace escrow::hsm {

// Checks that the token computes correctly, so that a failed decrypt can be blamed on the
// record rather than the HSM:
//   - AES-GCM under `master_key`: a fixed plaintext and AAD encrypt to something else and
//     decrypt back exactly, and the same ciphertext with one tag bit flipped is refused;
//   - HMAC-SHA256 under a temporary session key of known value matches OpenSSL's HMAC, and a
//     wrong MAC is refused.
// OK, or kUnavailable naming the step that failed. Session-level failures are left in
// session.last_error() for the caller to drop the session.
// REQUIRES: the session is logged in.
Status RunKnownAnswerTests(Pkcs11Session& session, CK_OBJECT_HANDLE master_key);

}  // namespace escrow::hsm
