#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/bytes.h"
#include "base/result.h"
#include "base/secret_bytes.h"
#include "hsm/escrow_keys.h"

namespace escrow::hsm {

// Where the HSM is and how to log in. The PIN is read from `pin_file` (never argv or env).
// The token is named by exactly one of `token_label` and `token_uri` (hsm/pkcs11_uri.h).
struct HsmConfig {
  std::string module_path;  // e.g. /usr/lib/softhsm/libsofthsm2.so
  std::string token_label;
  std::string pin_file;
  // The node whose audit checkpoint ReadCheckpoint and WriteCheckpoint keep ("": the unnamed
  // one). Several vaultd sharing one token each need their own (ValidateNodeName).
  std::string node;
  std::string token_uri{};  // RFC 7512, "pkcs11:token=escrow;serial=..."
  std::string init_args{};  // C_Initialize's pReserved, if the module needs one (NSS's softoken)
};

// OK if `node` may name a node: empty, or 1 to 64 of [A-Za-z0-9._-].
Status ValidateNodeName(std::string_view node);

// One node's checkpoint as ReadEveryCheckpoint finds it.
struct NodeCheckpointValue {
  std::string node;            // "" for the unnamed node
  std::optional<Bytes> value;  // nullopt: the node's objects are there but none is intact
};

// Every key has one job (DESIGN.md, second release): the master key seals recovery keys; the
// audit, fingerprint and state keys only MAC (the audit chain's groups, a version's keyed
// fingerprint, a device's state record).
enum class KeyRole { kMaster, kAudit, kFingerprint, kState };

// What the token says about one of the vault's keys. Never key material.
struct KeyInfo {
  KeyRole role = KeyRole::kMaster;
  std::uint32_t version = 0;
  std::string
      label;  // escrow-master-v<N>, escrow-audit-v<N>, escrow-fingerprint-v<N>, escrow-state-v<N>
  // 6 lowercase hex digits (3 bytes): the token's CKA_CHECK_VALUE, or, on a module without it,
  // the first 3 bytes of a GCM tag (master) or HMAC (MAC keys) of a fixed block made by the key
  // in the token (check_value_method says which); empty if neither is possible ("n/a").
  std::string check_value;
  bool sensitive = true;
  bool extractable = false;
  std::string check_value_method = "CKA_CHECK_VALUE";  // or kCheckValueGcm, kCheckValueHmac, ""
};

struct TokenInfo {
  std::string label;
  std::string serial;
  std::string manufacturer;
  std::string model;
};

inline constexpr std::string_view kCheckValueToken = "CKA_CHECK_VALUE";
inline constexpr std::string_view kCheckValueGcm = "GCM tag of a fixed block";
inline constexpr std::string_view kCheckValueHmac = "HMAC of a fixed block";
// How transcripts print a key's check value: "1a2b3c", "1a2b3c (GCM tag of a fixed block)"
// when the token has no CKA_CHECK_VALUE, or "n/a".
std::string CheckValueText(const KeyInfo& key);

// What the token's module can do, found when KeyService::Open connects (one session key, one
// session data object and a mechanism query; nothing on the token changes). The vault refuses
// to start without AES-GCM and HMAC-SHA256; everything else it can do without, said at start.
struct ModuleCapabilities {
  bool check_value = true;          // CKA_CHECK_VALUE on secret keys
  bool derived_check_value = true;  // without it: a GCM tag of a fixed block is allowed
  bool data_objects = true;         // private token data objects: the audit checkpoint
  bool so_user = true;              // an SO who logs in (CKA_TRUSTED wrapping key: backup)
  bool session_copies = true;       // C_CopyObject to a session object keeping its protections
  bool softhsm_store = false;       // SoftHSMv2's file store, which the vault fsyncs itself

  // What the module cannot do, each with the vault's answer, one short phrase each; empty if
  // it can do everything the vault uses.
  std::vector<std::string> Missing() const;
};

// One AES-GCM record: a fresh 96-bit IV, the ciphertext, a 128-bit tag (own columns).
struct Sealed {
  std::vector<std::uint8_t> iv;          // 12 bytes
  std::vector<std::uint8_t> ciphertext;  // same length as the plaintext
  std::vector<std::uint8_t> tag;         // 16 bytes
};

using Mac = std::array<std::uint8_t, 32>;

inline constexpr std::size_t kMaxCheckpointBytes = 256;
// The Status reason of a module that cannot keep the checkpoint data object.
inline constexpr std::string_view kNoDataObjects = "no_data_objects";

// How long a key destroyed or replaced on the token by another process may still be used by a
// KeyService that used it just before: the service checks the token object again before the
// first use after this interval (its own DestroyKey takes effect at once).
inline constexpr std::chrono::milliseconds kKeyRecheckInterval{1000};

// The vault's view of an HSM: key generation and lookup, AES-GCM under a master key,
// HMAC-SHA256 under the audit, fingerprint and state keys, and the audit checkpoint's data
// object, all inside the token. Thread-safe: calls are serialised through one lane (SoftHSMv2
// gains nothing from a second thread). A lost session or token is reopened and logged in again
// on the next call, so service resumes without a restart.
class KeyService {
 public:
  virtual ~KeyService() = default;

  // Loads the module (with init_args), finds the token by label or URI, logs in as the user and
  // finds what the module can do (capabilities()).
  // kUnavailable: module cannot load, token missing; kUnauthenticated: wrong PIN;
  // kInvalidArgument: unreadable PIN file or bad token name; kFailedPrecondition: the module
  // lacks CKM_AES_GCM or CKM_SHA256_HMAC (the message names the mechanism). Messages name the
  // PKCS#11 call and CKR_ code.
  static Result<std::unique_ptr<KeyService>> Open(const HsmConfig& config);

  virtual TokenInfo token() const = 0;
  // What the module can do (see ModuleCapabilities); a fake can do everything.
  virtual ModuleCapabilities capabilities() const { return {}; }

  // Generates escrow-master-v<version> (AES-256, token, private, sensitive, encrypt/decrypt
  // only), or escrow-audit-v<version>, escrow-fingerprint-v<version> or escrow-state-v<version>
  // (generic secrets for CKM_SHA256_HMAC, sign/verify only).
  // Not extractable unless `backup_capable`: then extractable only with CKA_WRAP_WITH_TRUSTED.
  // kAlreadyExists if that label exists. The token directory is synced before returning.
  virtual Result<KeyInfo> GenerateKey(KeyRole role, std::uint32_t version, bool backup_capable) = 0;
  // kNotFound if the key is not on the token.
  virtual Result<KeyInfo> FindKey(KeyRole role, std::uint32_t version) = 0;
  // Every key of the vault's roles on the token, by role then version.
  virtual Result<std::vector<KeyInfo>> ListKeys() = 0;
  // Destroys a key object. kNotFound if absent.
  virtual Status DestroyKey(KeyRole role, std::uint32_t version) = 0;

  // AES-256-GCM inside the HSM with a fresh random IV and a 128-bit tag.
  virtual Result<Sealed> Encrypt(std::uint32_t master_version,
                                 std::span<const std::uint8_t> plaintext,
                                 std::span<const std::uint8_t> aad) = 0;
  // kDataLoss if the record fails its tag while the HSM passes its known-answer probe;
  // kUnavailable if the HSM itself fails (probe fails, session or token lost).
  virtual Result<SecretBytes> Decrypt(std::uint32_t master_version, const Sealed& sealed,
                                      std::span<const std::uint8_t> aad) = 0;

  // HMAC-SHA256 under the MAC key of `role` (kAudit, kFingerprint or kState) and `version`.
  // kInvalidArgument for kMaster (it never MACs); kNotFound if the key is not on the token.
  virtual Result<Mac> Sign(KeyRole role, std::uint32_t version,
                           std::span<const std::uint8_t> data) = 0;
  // OK if valid; kDataLoss if not; kUnavailable if the HSM fails; as Sign for the role.
  virtual Status Verify(KeyRole role, std::uint32_t version, std::span<const std::uint8_t> data,
                        std::span<const std::uint8_t> mac) = 0;

  // The audit checkpoint kept on the token (DESIGN.md: restoring an older copy of the whole
  // database is caught at start): a private data object, `escrow-audit-checkpoint` (application
  // `escrow-vault`), whose value is the caller's (at most kMaxCheckpointBytes). nullopt if none
  // was written yet; kFailedPrecondition with reason kNoDataObjects if the module keeps no data
  // objects (then WriteCheckpoint answers the same and writes nothing); kDataLoss if checkpoint
  // objects exist but none is intact (never taken for "none yet"); kUnavailable if the HSM,
  // session or token is lost.
  virtual Result<std::optional<Bytes>> ReadCheckpoint() = 0;
  // Replaces the value (creating the object the first time); durable on return. A crash at any
  // point leaves the old value or the new one, never none and never a torn one (the new object
  // is created and synced before the old one is destroyed: hsm/data_object.h). kInvalidArgument
  // for a value longer than kMaxCheckpointBytes (nothing changes); kFailedPrecondition with
  // kNoDataObjects as above; kUnavailable if the HSM is lost or the token directory could not
  // be synced (the new value may then be the one read back, or not).
  virtual Status WriteCheckpoint(std::span<const std::uint8_t> value) = 0;
  // Every node's newest checkpoint on the token (HsmConfig::node), this node's included; empty
  // if none was written yet. Errors as ReadCheckpoint; a node whose objects are all damaged is
  // listed with no value (the caller fails closed on it).
  virtual Result<std::vector<NodeCheckpointValue>> ReadEveryCheckpoint() = 0;
  // Destroys every other node's checkpoint objects (the operator accepted this node's head for
  // the whole vault: `vaultctl audit accept-head`). This node's stay.
  virtual Status ForgetOtherCheckpoints() = 0;

  // Apple MDM escrow keys (hsm/escrow_keys.h), apart from KeyRole's symmetric keys: ListKeys,
  // GenerateKey, Sign and the backup never see them.
  //
  // Generates the key pair escrow-cms-v<version>: RSA of `rsa_bits` (kCmsKeyBits2048 or
  // kCmsKeyBits3072, else kInvalidArgument); the private key token, private, sensitive, never
  // extractable, unwrap only; the public key a token object too. Returns its public key.
  // kAlreadyExists if an object carries the label. The token directory is synced on return.
  virtual Result<EscrowKeyInfo> GenerateCmsKey(std::uint32_t version, std::uint32_t rsa_bits) = 0;
  // Generates escrow-ca-v<version> or escrow-audit-sign-v<version> (IsSigningKind(kind), else
  // kInvalidArgument): ECDSA P-256, the private key sign only. As GenerateCmsKey.
  virtual Result<EscrowKeyInfo> GenerateSigningKey(EscrowKeyKind kind, std::uint32_t version) = 0;
  // The key pair's public key and flags. kNotFound if either half is absent.
  virtual Result<EscrowKeyInfo> FindEscrowKey(EscrowKeyKind kind, std::uint32_t version) = 0;
  // Every escrow key pair on the token, by kind then version.
  virtual Result<std::vector<EscrowKeyInfo>> ListEscrowKeys() = 0;
  // Destroys both halves. kNotFound if the private key is absent.
  virtual Status DestroyEscrowKey(EscrowKeyKind kind, std::uint32_t version) = 0;

  // ECDSA-Sig-Value (DER) over SHA-256(data), made in the token by the signing key `kind`
  // (escrow-ca-v<N> or escrow-audit-sign-v<N>; another kind is kInvalidArgument) of `version`.
  // kNotFound if the key is absent.
  virtual Result<Bytes> EcdsaSign(EscrowKeyKind kind, std::uint32_t version,
                                  std::span<const std::uint8_t> data) = 0;

  // Opens one envelope inside the token: C_UnwrapKey of the content-encryption key under
  // escrow-cms-v<N> into a sensitive, unextractable, decrypt-only session object, C_Decrypt of
  // the content with it (CBC with PKCS#7 padding), the session object destroyed on every path.
  // The plaintext exists only in the returned SecretBytes. No padding oracle: when the unwrap
  // fails (or yields a key of the wrong length), the content is decrypted under a fresh random
  // key of the cipher's type, so the failure costs what a bad content decrypt costs. See
  // OpenedEnvelope for the Status and the cause.
  virtual OpenedEnvelope OpenEnvelope(const EnvelopeToOpen& envelope) = 0;

  // Known-answer self test (encrypt-then-decrypt round trip under the given master key and
  // an HMAC under a session key). OK when the HSM computes correctly.
  virtual Status Probe(std::uint32_t master_version) = 0;

 protected:
  // Copied or moved only as a concrete service, never sliced through this interface.
  KeyService() = default;
  KeyService(const KeyService&) = default;
  KeyService& operator=(const KeyService&) = default;
  KeyService(KeyService&&) = default;
  KeyService& operator=(KeyService&&) = default;
};

}  // namespace escrow::hsm
