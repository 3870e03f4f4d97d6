#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"
#include "base/secret_bytes.h"

namespace escrow::tools {

// The webhook's shared secret: `path` holds it hex-encoded (at least 32 bytes, so 64 hex
// digits; surrounding whitespace ignored). The file must be a regular file, not a link, and
// neither group- nor world-accessible (chmod 600). The bytes go straight into SecretBytes; no
// copy stays in ordinary memory. Returns kInvalidArgument (bad mode, not hex, too short) or
// kNotFound; messages never contain any of the file's bytes.
Result<SecretBytes> LoadWebhookSecret(const std::string& path);

// The X-Vault-Signature header value for one attempt to deliver `body` at unix time `t`:
// "t=<t>,v1=<lowercase hex HMAC-SHA256(secret, "<t>.<body>")>" (API.md, "Events").
std::string SignatureHeader(const SecretBytes& secret, std::int64_t t, std::string_view body);

}  // namespace escrow::tools
