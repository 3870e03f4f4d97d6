#pragma once

// The vault's key objects on a token: labels, search, generation, attributes.
// Private to hsm/: includes pkcs11.h. REQUIRES for every function: the session is logged in.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <p11-kit/pkcs11.h>

#include "base/bytes.h"
#include "base/result.h"
#include "hsm/key_service.h"
#include "hsm/pkcs11_session.h"

namespace escrow::hsm {

// "escrow-master-v<N>", "escrow-audit-v<N>", "escrow-fingerprint-v<N>" or "escrow-state-v<N>".
std::string KeyLabel(KeyRole role, std::uint32_t version);
// "escrow-master-v", "escrow-audit-v", ... (the label without its version).
std::string_view KeyLabelPrefix(KeyRole role);

struct LabelledKey {
  KeyRole role;
  std::uint32_t version;
};
// The inverse of KeyLabel: decimal version without sign or leading zeros, fitting 32 bits.
std::optional<LabelledKey> ParseKeyLabel(std::string_view label);

// Every object matching `attrs` (C_FindObjectsInit/C_FindObjects/C_FindObjectsFinal).
Result<std::vector<CK_OBJECT_HANDLE>> FindObjects(Pkcs11Session& session,
                                                  std::span<CK_ATTRIBUTE> attrs);

// True if any object carries the label (whatever its class or type).
Result<bool> LabelExists(Pkcs11Session& session, const std::string& label);

// The secret key labelled KeyLabel(role, version) of the role's key type.
// kNotFound if absent; kFailedPrecondition if several objects carry the label.
Result<CK_OBJECT_HANDLE> FindKeyObject(Pkcs11Session& session, KeyRole role, std::uint32_t version);

// The one token object of class `cls`, key type `type` and label `label` (the vault's keys and
// the escrow key pairs' halves). kNotFound if absent; kFailedPrecondition naming how many
// `plural` carry the label if several do.
Result<CK_OBJECT_HANDLE> FindLabelledObject(Pkcs11Session& session, CK_OBJECT_CLASS cls,
                                            CK_KEY_TYPE type, std::string label,
                                            std::string_view plural);

// Generates the token key as KeyService::GenerateKey documents it.
Result<CK_OBJECT_HANDLE> GenerateKeyObject(Pkcs11Session& session, KeyRole role,
                                           std::uint32_t version, bool backup_capable);

// Check value, sensitive and extractable. Never reads CKA_VALUE.
Result<KeyInfo> ReadKeyInfo(Pkcs11Session& session, CK_OBJECT_HANDLE key, KeyRole role,
                            std::uint32_t version);

// A session object copied from the token key `key` (C_CopyObject with CKA_TOKEN false), for
// the lane's crypto: it keeps the token key's sensitivity, extractability and usage (SoftHSMv2
// refuses to change them in a copy, and a copy could only narrow them), lives inside the
// module, and dies with the session. Labelled kSessionCopyLabel, which no search for the
// vault's keys matches. Errors carry the CK_RV (e.g. a module that forbids copies).
inline constexpr std::string_view kSessionCopyLabel = "escrow-session-copy";
Result<CK_OBJECT_HANDLE> CopyKeyToSession(Pkcs11Session& session, CK_OBJECT_HANDLE key);

// One attribute's bytes; empty if the object does not have it (CKR_ATTRIBUTE_TYPE_INVALID) or
// the module will not say (CK_UNAVAILABLE_INFORMATION). Never use it on a key's CKA_VALUE.
Result<Bytes> ReadAttributeBytes(Pkcs11Session& session, CK_OBJECT_HANDLE object,
                                 CK_ATTRIBUTE_TYPE type);

// Whether `object` still exists: false if the module calls its handle invalid (destroyed, by
// this process or another); other failures are errors.
Result<bool> ObjectExists(Pkcs11Session& session, CK_OBJECT_HANDLE object);

// Every key of the vault's roles (a secret key of the role's type under one of KeyLabel's
// labels), by role then version. Never a data object (the audit checkpoint) or a session copy.
Result<std::vector<KeyInfo>> ListKeyObjects(Pkcs11Session& session);

}  // namespace escrow::hsm
