#pragma once

// Moving the vault's keys out of one token and into another, wrapped under a ceremony key
// (vaultctl master-key backup / restore [--add]). No PKCS#11 types here.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/bytes.h"
#include "base/result.h"
#include "base/secret_bytes.h"
#include "hsm/key_service.h"

namespace escrow::hsm {

// The ceremony key is AES-256: 32 bytes.
inline constexpr std::size_t kCeremonyKeyBytes = 32;

// How a backup's keys were wrapped: the mechanism and its padding rule, recorded in the backup
// so that a restore on another module unwraps them the same way or refuses clearly. Modules
// differ: PKCS#11 3.0's CKM_AES_KEY_WRAP_KWP is RFC 5649; CKM_AES_KEY_WRAP_PAD is RFC 5649 in
// SoftHSMv2 but PKCS#7 padding then RFC 3394 in NSS's softoken (as the standard reads).
enum class WrapMechanism { kAesKeyWrapPad, kAesKeyWrapKwp };
enum class WrapPadding { kRfc5649, kPkcs7ThenRfc3394 };
struct WrapMethod {
  WrapMechanism mechanism = WrapMechanism::kAesKeyWrapPad;
  WrapPadding padding = WrapPadding::kRfc5649;  // what every backup before this field had
  bool operator==(const WrapMethod&) const = default;
};
// "CKM_AES_KEY_WRAP_PAD" / "CKM_AES_KEY_WRAP_KWP"; "rfc5649" / "pkcs7-rfc3394".
std::string_view WrapMechanismName(WrapMechanism mechanism);
std::string_view WrapPaddingName(WrapPadding padding);
// nullopt for a name of neither, or a combination no module uses (KWP is RFC 5649 only).
std::optional<WrapMethod> ParseWrapMethod(std::string_view mechanism, std::string_view padding);

// One vault key as it leaves the token: its value wrapped under the ceremony key as `wrap`
// says, and the attributes needed to put it back exactly as it was.
struct WrappedKey {
  KeyRole role = KeyRole::kMaster;
  std::uint32_t version = 0;
  std::string label;        // VaultKeyLabel(role, version)
  Bytes id;                 // CKA_ID
  bool extractable = true;  // backed-up keys are; restored as they were
  std::string check_value;  // CKA_CHECK_VALUE, 6 lowercase hex digits ("" if the token has none)
  Bytes wrapped;
  WrapMethod wrap;
};

// Where the keys are and how to log in. PINs are held in secure memory by the caller.
struct TokenLogin {
  std::string module_path;
  std::string token_label;  // or token_uri (exactly one of them)
  const SecretBytes* user_pin = nullptr;
  const SecretBytes* so_pin = nullptr;  // WrapVaultKeys only
  std::string token_uri{};
  std::string init_args{};
  // How messages name the token: its label, or the URI.
  std::string name() const { return token_label.empty() ? token_uri : token_label; }
};

// The label a vault key of `role` and `version` has on the token: escrow-master-v<N>,
// escrow-audit-v<N>, escrow-fingerprint-v<N> or escrow-state-v<N> (so that a backup file can be
// checked against the one rule).
std::string VaultKeyLabel(KeyRole role, std::uint32_t version);

// Wraps every vault key on the token (every role of KeyRole, every version) under
// `ceremony_key`, by role then version.
//
// PKCS#11 lets a key created with CKA_WRAP_WITH_TRUSTED leave the token only under a wrapping
// key with CKA_TRUSTED=true, and only the security officer may set CKA_TRUSTED. So, on one
// session: C_Login(SO); C_CreateObject of the ceremony key as a public session object
// (CKA_TOKEN=false, CKA_PRIVATE=false, CKA_TRUSTED=true, CKA_WRAP=true, nothing else);
// C_Logout; C_Login(USER) (the keys are private objects, invisible to the SO); C_WrapKey
// for each key; C_DestroyObject of the ceremony key; the session closes. Verified against
// SoftHSMv2 2.6 (tests/hsm/key_backup_test.cc). The mechanism: CKM_AES_KEY_WRAP_KWP where the
// module offers it for wrapping, else CKM_AES_KEY_WRAP_PAD with the padding rule the module
// is found to follow (a known-answer unwrap in the session); each key records it.
// kFailedPrecondition also when the module can wrap by neither rule.
//
// REQUIRES: no other session of this process is logged in to the token (PKCS#11 login state
// is per application: an open KeyService would make the SO login fail).
// kFailedPrecondition: a key is not extractable (not made with --backup-capable) or the token
// holds no vault keys; kUnauthenticated: wrong SO or user PIN; kUnavailable: token missing.
// Whether the token's module can make the trusted ceremony key at all (an SO who logs in): OK,
// or kFailedPrecondition with reason "no_so_user" naming the module (NSS's softoken), before
// anyone is asked for an SO PIN. No login. kUnavailable: token missing.
Status CheckBackupPossible(const TokenLogin& login);

Result<std::vector<WrappedKey>> WrapVaultKeys(const TokenLogin& login,
                                              const SecretBytes& ceremony_key);

// Unwraps `keys` into the token (each as its `wrap` says: CKM_AES_KEY_WRAP_KWP for RFC 5649
// where the module offers it, else CKM_AES_KEY_WRAP_PAD if the module pads that same way;
// else kFailedPrecondition naming both, before anything is created) as token objects
// (private, sensitive, CKA_WRAP_WITH_TRUSTED,
// extractable as recorded, the same label, ID and usage as KeyService::GenerateKey gives), then
// checks each one's CKA_CHECK_VALUE against the recorded one. All or nothing: on any failure
// the keys it created are destroyed again. The token directory is synced before returning.
// kFailedPrecondition: the token already holds a vault key; kDataLoss: a key does not unwrap
// or its check value differs (wrong ceremony key or damaged backup); kUnavailable /
// kUnauthenticated as for KeyService::Open.
Status UnwrapVaultKeys(const TokenLogin& login, const SecretBytes& ceremony_key,
                       const std::vector<WrappedKey>& keys);

// What ImportMissingVaultKeys did, by label, in the backup's order.
struct KeyImport {
  std::vector<std::string> imported;  // unwrapped into the token
  std::vector<std::string> present;   // already there, the same key (same check value)
};

// restore --add: so that several nodes' tokens can follow a rotation done on one, imports the
// keys of `keys` that the token lacks, as UnwrapVaultKeys does (all or nothing, check values
// verified by the token, synced). A key the token already has (same label) is left alone and
// must be the same key: its CKA_CHECK_VALUE equal to the recorded one. Every such key is
// checked before anything is imported. Nothing to import is OK.
// kFailedPrecondition naming the label: a key under the same label with another check value
// (or none to compare), or another object under a missing key's label; otherwise as
// UnwrapVaultKeys.
Result<KeyImport> ImportMissingVaultKeys(const TokenLogin& login, const SecretBytes& ceremony_key,
                                         const std::vector<WrappedKey>& keys);

}  // namespace escrow::hsm
