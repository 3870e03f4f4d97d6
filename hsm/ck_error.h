#pragma once

// PKCS#11 return codes -> Status. Private to hsm/: includes pkcs11.h.

#include <string>
#include <string_view>

#include <p11-kit/pkcs11.h>

#include "base/status.h"

namespace escrow::hsm {

// "CKR_PIN_INCORRECT", or "CKR_0x80000001" for vendor and unknown codes.
std::string CkRvName(CK_RV rv);

// Maps `rv` from the PKCS#11 function `call` to a Status whose message is
// "<call>: <CKR_NAME>", e.g. "C_Login: CKR_PIN_INCORRECT". CKR_OK gives OK.
//   wrong or locked PIN                        -> kUnauthenticated
//   session, token, device or library trouble  -> kUnavailable
//   bad tag or signature                       -> kDataLoss
//   stale object handle                        -> kNotFound
//   sensitive / unextractable / not permitted  -> kPermissionDenied
//   bad arguments, template or mechanism       -> kInvalidArgument
//   anything else                              -> kInternal
Status FromCkRv(CK_RV rv, std::string_view call);

// True when `rv` says the session (or the token, slot or library behind it) is no longer
// usable: the caller drops the session and logs in again on a fresh one.
bool IsSessionLevelError(CK_RV rv);

// True when an object handle no longer names an object (destroyed or re-created elsewhere).
bool IsStaleHandleError(CK_RV rv);

}  // namespace escrow::hsm
