#pragma once

#include "portal/http_message.h"
#include "portal/session_store.h"
#include "portal/https_client.h"

namespace escrow::portal {

// The pages' JSON API: "/api/<vault path>" for the few vault routes the pages use (listed in
// vault_forward.cc), forwarded to vaultd with the session's token; vaultd's status and body
// come back as they are, so the pages read the vault's own error codes. Anything else is 404.
// A store's request body and a retrieval's answer carry a key: the forwarded copies are wiped
// here, and the answer is marked sensitive so the server wipes it once written.
// REQUIRES: the caller checked the session and, for a write, its CSRF token.
PortalResponse ForwardToVault(PortalRequest& request, const Session& session,
                              const HttpsClient& vault);

}  // namespace escrow::portal
