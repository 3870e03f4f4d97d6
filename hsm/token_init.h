#pragma once

// Token set-up for `vaultctl init --dev` and the tests, so no softhsm2-util is needed.

#include <string>

#include "base/result.h"
#include "base/secret_bytes.h"
#include "hsm/key_service.h"

namespace escrow::hsm {

// Initialises the first uninitialised token of the module (SoftHSMv2 always offers one) with
// `label` and the SO PIN, logs in as SO and sets the user PIN, then syncs the SoftHSMv2 token
// directory. Destroys whatever that token held: use it for new tokens only.
// kInvalidArgument: label not 1..32 bytes, empty PIN, or a PIN the token refuses;
// kAlreadyExists: a token with that label exists (KeyService::Open refuses duplicates);
// kFailedPrecondition: no uninitialised token; kUnavailable: module cannot load.
// `init_args` goes to C_Initialize (Pkcs11Module::Acquire).
Status InitializeToken(const std::string& module_path, const std::string& label,
                       const SecretBytes& so_pin, const SecretBytes& user_pin,
                       const std::string& init_args = "");

// The serial number of the token labelled `label` (blank padding trimmed).
// kUnavailable if the module cannot load or there is no such token.
Result<std::string> TokenSerial(const std::string& module_path, const std::string& label);
// The same for the module, init_args and token (label or URI) of `config`; kInvalidArgument
// for a bad token name.
Result<std::string> TokenSerial(const HsmConfig& config);

}  // namespace escrow::hsm
