#pragma once

// KeyService over any PKCS#11 module, tuned for SoftHSMv2. Private to hsm/: includes
// pkcs11.h. Callers use KeyService::Open.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include <p11-kit/pkcs11.h>

#include "hsm/escrow_key_objects.h"
#include "hsm/key_service.h"
#include "hsm/pkcs11_module.h"
#include "hsm/pkcs11_session.h"
#include "hsm/pkcs11_uri.h"
#include "hsm/token_sync.h"

namespace escrow::hsm {

// The vault's keys on one token, used through one logged-in session: the "lane". A mutex
// serialises every HSM call (SoftHSMv2 gains nothing from parallel sessions, and one session
// keeps the login and handle cache simple). When a call fails because the session, token or
// device is gone, the session and the key cache are dropped; the next call (and, for calls
// without side effects, the same call once more at once) finds the token by label again and
// logs in with the PIN kept in secure memory, so service resumes without a restart when the
// HSM comes back. SoftHSMv2 does not see a token directory that vanished and came back (nor a
// PIN changed back by another process) until the library is initialised again; so when the
// token cannot be found, opened or logged in to and this service is the library's only user
// in the process (vaultd), the library is re-initialised (Pkcs11Module::Reinitialize), at
// most once per kRescanInterval.
//
// Crypto runs on a session copy of each token key (CopyKeyToSession): same attributes, inside
// the module, gone with the session. SoftHSMv2 re-reads a token object's file on every use
// (open, lock, read, close), which costs as much as the AES-GCM operation itself; a session
// object has no file. So that a key destroyed or replaced on the token (by this process or
// another) stops working, the first call after kKeyRecheckInterval since the last check
// checks every copy's token object and destroys the copies whose key is gone; DestroyKey
// destroys the copy at once. A module that refuses C_CopyObject is used through the token
// object. Thread-safe.
class SoftHsmKeyService final : public KeyService {
 public:
  // See KeyService::Open.
  static Result<std::unique_ptr<KeyService>> Open(const HsmConfig& config);

  SoftHsmKeyService(const SoftHsmKeyService&) = delete;  // owns a session and a PIN
  SoftHsmKeyService& operator=(const SoftHsmKeyService&) = delete;
  SoftHsmKeyService(SoftHsmKeyService&&) = delete;  // held by unique_ptr only
  SoftHsmKeyService& operator=(SoftHsmKeyService&&) = delete;
  ~SoftHsmKeyService() override = default;

  TokenInfo token() const override { return token_; }
  ModuleCapabilities capabilities() const override { return caps_; }
  Result<KeyInfo> GenerateKey(KeyRole role, std::uint32_t version, bool backup_capable) override;
  Result<KeyInfo> FindKey(KeyRole role, std::uint32_t version) override;
  Result<std::vector<KeyInfo>> ListKeys() override;
  Status DestroyKey(KeyRole role, std::uint32_t version) override;
  Result<Sealed> Encrypt(std::uint32_t master_version, std::span<const std::uint8_t> plaintext,
                         std::span<const std::uint8_t> aad) override;
  Result<SecretBytes> Decrypt(std::uint32_t master_version, const Sealed& sealed,
                              std::span<const std::uint8_t> aad) override;
  Result<Mac> Sign(KeyRole role, std::uint32_t version,
                   std::span<const std::uint8_t> data) override;
  Status Verify(KeyRole role, std::uint32_t version, std::span<const std::uint8_t> data,
                std::span<const std::uint8_t> mac) override;
  Result<std::optional<Bytes>> ReadCheckpoint() override;
  Status WriteCheckpoint(std::span<const std::uint8_t> value) override;
  Result<std::vector<NodeCheckpointValue>> ReadEveryCheckpoint() override;
  Status ForgetOtherCheckpoints() override;
  // kNotFound if the master key does not exist (a caller's mistake, not an HSM fault).
  Status Probe(std::uint32_t master_version) override;
  // The escrow keys are used through their token objects, looked up on every call (no session
  // copies): envelopes and certificates are rare, and a destroyed escrow key then stops at once.
  Result<EscrowKeyInfo> GenerateCmsKey(std::uint32_t version, std::uint32_t rsa_bits) override;
  Result<EscrowKeyInfo> GenerateSigningKey(EscrowKeyKind kind, std::uint32_t version) override;
  Result<EscrowKeyInfo> FindEscrowKey(EscrowKeyKind kind, std::uint32_t version) override;
  Result<std::vector<EscrowKeyInfo>> ListEscrowKeys() override;
  Status DestroyEscrowKey(EscrowKeyKind kind, std::uint32_t version) override;
  Result<Bytes> EcdsaSign(EscrowKeyKind kind, std::uint32_t version,
                          std::span<const std::uint8_t> data) override;
  OpenedEnvelope OpenEnvelope(const EnvelopeToOpen& envelope) override;

 private:
  // Whether a call that lost its session is run again at once on a new one. Not for calls
  // with effects on the token: the lost call may have completed before the session went.
  enum class Retry { kNo, kOnce };

  SoftHsmKeyService(std::shared_ptr<Pkcs11Module> module, TokenSelector selector, SecretBytes pin,
                    TokenInfo token, ModuleCapabilities caps, Pkcs11Session session,
                    std::string checkpoint_label);
  // SyncSoftHsmTokenDir / SnapshotSoftHsmToken / SyncSoftHsmTokenChanges for SoftHSMv2's file
  // store; nothing for another module (its durability is its own: NSS's SQLite syncs).
  Status SyncToken() const;
  TokenSnapshot SnapshotToken() const;
  Status SyncTokenChanges(const TokenSnapshot& before) const;

  // Runs `op(session)` in the lane, connecting first if needed; see the class comment.
  template <class Op>
  auto InLane(Retry retry, Op&& op);
  // REQUIRES: mu_ held.
  Status ConnectLocked();
  Status ConnectOnceLocked();

  // One of the vault's keys as the lane uses it.
  struct LaneKey {
    CK_OBJECT_HANDLE token = CK_INVALID_HANDLE;  // the token object: identity, attributes
    CK_OBJECT_HANDLE use = CK_INVALID_HANDLE;    // for crypto: the session copy, or `token`
  };
  using KeyId = std::pair<KeyRole, std::uint32_t>;
  // The key, from the cache or looked up and copied; first, once per kKeyRecheckInterval,
  // RecheckKeysLocked. REQUIRES: mu_ held.
  Result<LaneKey> KeyLocked(Pkcs11Session& session, KeyRole role, std::uint32_t version);
  // Whether the module keeps private data objects (ModuleKeepsDataObjects), asked once and
  // remembered. REQUIRES: mu_ held.
  Result<bool> DataObjectsLocked(Pkcs11Session& session);
  // Generates an escrow key pair with `generate` unless its label exists, then syncs.
  template <class Generate>
  Result<EscrowKeyInfo> GenerateEscrowKeyPair(EscrowKeyKind kind, std::uint32_t version,
                                              Generate&& generate);
  // FindEscrowKeyPair, where kNotFound on a lost token or login is kUnavailable. REQUIRES: mu_.
  Result<EscrowKeyPair> FindEscrowKeyPairLocked(Pkcs11Session& session, EscrowKeyKind kind,
                                                       std::uint32_t version);
  // Forgets every copy whose token object no longer exists. REQUIRES: mu_ held.
  Status RecheckKeysLocked(Pkcs11Session& session);
  // FindKeyObject, where kNotFound on a lost token or login is kUnavailable. REQUIRES: mu_.
  Result<CK_OBJECT_HANDLE> FindTokenKeyLocked(Pkcs11Session& session, KeyRole role,
                                              std::uint32_t version);
  // Drops a key (or every key) from the cache, destroying its session copy. REQUIRES: mu_.
  void ForgetKeyLocked(Pkcs11Session& session, const KeyId& id);
  void ForgetKeysLocked(Pkcs11Session& session);

  const std::shared_ptr<Pkcs11Module> module_;
  const TokenSelector selector_;  // how the token is found again after it was lost
  const SecretBytes pin_;  // kept to log in again after the token comes back
  const TokenInfo token_;
  const ModuleCapabilities caps_;  // found once, at Open
  const std::string checkpoint_label_;  // this node's (CheckpointLabel)

  static constexpr std::chrono::milliseconds kRescanInterval{1000};

  std::mutex mu_;                                                     // the lane
  std::optional<std::chrono::steady_clock::time_point> last_rescan_;  // guarded by mu_
  std::optional<Pkcs11Session> session_;  // guarded by mu_; empty after losing the session
  std::map<KeyId, LaneKey> keys_;         // guarded by mu_; copies belong to session_
  std::chrono::steady_clock::time_point keys_checked_;  // guarded by mu_: the last recheck
  std::optional<bool> data_objects_;  // guarded by mu_: unknown until asked or written
};

}  // namespace escrow::hsm
