#pragma once

// Finding tokens by label. Private to hsm/: includes pkcs11.h.

#include <string>
#include <string_view>

#include <p11-kit/pkcs11.h>

#include "base/result.h"
#include "hsm/key_service.h"
#include "hsm/pkcs11_module.h"
#include "hsm/pkcs11_session.h"
#include "hsm/pkcs11_uri.h"

namespace escrow::hsm {

// kInvalidArgument unless 1..32 bytes (the size of CK_TOKEN_INFO.label).
Status ValidateTokenLabel(std::string_view label);

// The slot holding the one initialised token that `token` matches (fields blank-padded by the
// token are compared trimmed). kUnavailable "no token X" if none; kFailedPrecondition if
// several tokens match (picking one would be a guess about where the keys are).
Result<CK_SLOT_ID> FindTokenSlot(const Pkcs11Module& module, const TokenSelector& token);
// The same for the token labelled `label` (kInvalidArgument unless 1..32 bytes).
Result<CK_SLOT_ID> FindTokenSlot(const Pkcs11Module& module, std::string_view label);

// The first slot with a token that is present and not initialised (SoftHSMv2 always offers
// one). kFailedPrecondition if there is none.
Result<CK_SLOT_ID> FindUninitializedTokenSlot(const Pkcs11Module& module);

// C_GetTokenInfo with the blank padding trimmed. kUnavailable if the token is gone.
Result<TokenInfo> ReadTokenInfo(const Pkcs11Module& module, CK_SLOT_ID slot);

// Whether `session` is still logged in to the token `token` names. A token that vanishes
// (SoftHSMv2's directory deleted) or a login ended elsewhere (another C_Logout in the process)
// does not always fail the next call: objects just stop being found. So before a "not found"
// is believed, this checks the session state and the slot's token. OK if both are fine;
// otherwise kUnavailable, with a session-level code left in session.last_error() so that the
// session is dropped.
Status CheckSessionAlive(Pkcs11Session& session, const TokenSelector& token);

}  // namespace escrow::hsm
