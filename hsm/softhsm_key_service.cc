#include "hsm/softhsm_key_service.h"

#include <type_traits>
#include <vector>

#include "base/log.h"
#include "hsm/ck_error.h"
#include "hsm/data_object.h"
#include "hsm/escrow_crypto.h"
#include "hsm/key_objects.h"
#include "hsm/known_answer.h"
#include "hsm/module_capabilities.h"
#include "hsm/pin_file.h"
#include "hsm/token_crypto.h"
#include "hsm/token_slots.h"
#include "hsm/token_sync.h"

namespace escrow::hsm {
namespace {

Status StatusOf(const Status& s) { return s; }
template <class T>
Status StatusOf(const Result<T>& r) {
  return r.status();
}

// Every integrity failure reads the same to callers; the detail is for the audit record.
Status IntegrityFailure() { return Status::DataLoss("record failed its integrity check"); }

Status Synced(Status sync, const std::string& what) {
  if (sync.ok()) return sync;
  return Status::Unavailable(what + ", but the token directory was not synced: " + sync.message());
}

}  // namespace

Result<std::unique_ptr<KeyService>> KeyService::Open(const HsmConfig& config) {
  return SoftHsmKeyService::Open(config);
}

Result<std::unique_ptr<KeyService>> SoftHsmKeyService::Open(const HsmConfig& config) {
  ESCROW_ASSIGN_OR_RETURN(TokenSelector selector,
                          SelectToken(config.token_label, config.token_uri));
  ESCROW_RETURN_IF_ERROR(ValidateNodeName(config.node));
  ESCROW_ASSIGN_OR_RETURN(SecretBytes pin, ReadPinFile(config.pin_file));
  ESCROW_ASSIGN_OR_RETURN(std::shared_ptr<Pkcs11Module> module,
                          Pkcs11Module::Acquire(config.module_path, config.init_args));
  ESCROW_ASSIGN_OR_RETURN(CK_SLOT_ID slot, FindTokenSlot(*module, selector));
  ESCROW_ASSIGN_OR_RETURN(TokenInfo token, ReadTokenInfo(*module, slot));
  ESCROW_ASSIGN_OR_RETURN(Pkcs11Session session, Pkcs11Session::Open(module, slot, true));
  ESCROW_RETURN_IF_ERROR(session.Login(CKU_USER, pin));
  ESCROW_ASSIGN_OR_RETURN(ModuleCapabilities caps, DetectCapabilities(session, token));
  return std::unique_ptr<KeyService>(new SoftHsmKeyService(
      std::move(module), std::move(selector), std::move(pin), std::move(token), caps,
      std::move(session), CheckpointLabel(config.node)));
}

SoftHsmKeyService::SoftHsmKeyService(std::shared_ptr<Pkcs11Module> module, TokenSelector selector,
                                     SecretBytes pin, TokenInfo token, ModuleCapabilities caps,
                                     Pkcs11Session session, std::string checkpoint_label)
    : module_(std::move(module)),
      selector_(std::move(selector)),
      pin_(std::move(pin)),
      token_(std::move(token)),
      caps_(caps),
      checkpoint_label_(std::move(checkpoint_label)),
      session_(std::move(session)),
      data_objects_(caps.data_objects) {}

Status SoftHsmKeyService::SyncToken() const {
  return caps_.softhsm_store ? SyncSoftHsmTokenDir(token_.serial) : Status::Ok();
}

TokenSnapshot SoftHsmKeyService::SnapshotToken() const {
  return caps_.softhsm_store ? SnapshotSoftHsmToken(token_.serial) : TokenSnapshot{};
}

Status SoftHsmKeyService::SyncTokenChanges(const TokenSnapshot& before) const {
  return caps_.softhsm_store ? SyncSoftHsmTokenChanges(before, token_.serial) : Status::Ok();
}

template <class Op>
auto SoftHsmKeyService::InLane(Retry retry, Op&& op) {
  using R = std::invoke_result_t<Op&, Pkcs11Session&>;
  std::lock_guard<std::mutex> lock(mu_);
  for (int attempt = 0;; ++attempt) {
    if (!session_) {
      if (Status s = ConnectLocked(); !s.ok()) return R(s);
    }
    session_->ClearLastError();
    R result = R(Status::Internal("unset"));
    try {
      result = op(*session_);
    } catch (const SecureHeapExhausted&) {
      // No room for a secret now: an overload, reported like one (and audited by the caller).
      return R(Status::Unavailable("secure heap exhausted"));
    }
    if (StatusOf(result).ok()) return result;
    const CK_RV rv = session_->last_error();
    if (IsSessionLevelError(rv)) {
      session_.reset();  // and with it every session copy
      keys_.clear();
    } else if (IsStaleHandleError(rv)) {
      ForgetKeysLocked(*session_);  // destroyed or re-created elsewhere: look them up again
    } else {
      return result;
    }
    if (retry == Retry::kNo || attempt > 0) return result;
  }
}

Status SoftHsmKeyService::ConnectLocked() {
  Status s = ConnectOnceLocked();
  if (s.code() != Code::kUnavailable && s.code() != Code::kUnauthenticated) return s;
  // The token may have come back where the library no longer looks, or its PIN may have been
  // changed back by another process (SoftHSMv2 keeps the token's login data it read): scan
  // again, unless the library is shared in this process or was just rescanned.
  const auto now = std::chrono::steady_clock::now();
  if (last_rescan_ && now - *last_rescan_ < kRescanInterval) return s;
  last_rescan_ = now;
  if (!Pkcs11Module::Reinitialize(module_).ok()) return s;
  return ConnectOnceLocked();
}

Status SoftHsmKeyService::ConnectOnceLocked() {
  ESCROW_ASSIGN_OR_RETURN(CK_SLOT_ID slot, FindTokenSlot(*module_, selector_));
  ESCROW_ASSIGN_OR_RETURN(Pkcs11Session session, Pkcs11Session::Open(module_, slot, true));
  if (Status s = session.Login(CKU_USER, pin_); !s.ok()) {
    return s.code() == Code::kUnauthenticated ? s : Status::Unavailable(s.message());
  }
  session_.emplace(std::move(session));
  keys_.clear();
  return Status::Ok();
}

Result<CK_OBJECT_HANDLE> SoftHsmKeyService::FindTokenKeyLocked(Pkcs11Session& session, KeyRole role,
                                                               std::uint32_t version) {
  Result<CK_OBJECT_HANDLE> handle = FindKeyObject(session, role, version);
  if (!handle.ok() && handle.status().code() == Code::kNotFound) {
    // A vanished token or ended login hides every key: that is an outage, not a missing key.
    ESCROW_RETURN_IF_ERROR(CheckSessionAlive(session, selector_));
  }
  return handle;
}

Result<SoftHsmKeyService::LaneKey> SoftHsmKeyService::KeyLocked(Pkcs11Session& session,
                                                                KeyRole role,
                                                                std::uint32_t version) {
  const auto now = std::chrono::steady_clock::now();
  if (now - keys_checked_ >= kKeyRecheckInterval) {
    ESCROW_RETURN_IF_ERROR(RecheckKeysLocked(session));
    keys_checked_ = now;
  }
  const KeyId id{role, version};
  if (auto it = keys_.find(id); it != keys_.end()) return it->second;
  ESCROW_ASSIGN_OR_RETURN(const CK_OBJECT_HANDLE token, FindTokenKeyLocked(session, role, version));
  LaneKey key{token, token};
  if (!caps_.session_copies) {
    // The module makes no session copies: the token object it is.
  } else if (Result<CK_OBJECT_HANDLE> copy = CopyKeyToSession(session, token); copy.ok()) {
    key.use = *copy;
  } else {
    const CK_RV rv = session.last_error();
    if (IsSessionLevelError(rv) || IsStaleHandleError(rv)) return copy.status();
    session.ClearLastError();  // a module that refuses copies: use the token object
  }
  keys_.insert_or_assign(id, key);
  return key;
}

Status SoftHsmKeyService::RecheckKeysLocked(Pkcs11Session& session) {
  std::vector<KeyId> gone;
  for (const auto& [id, key] : keys_) {
    // The module checks a token object on every use itself; a copy needs this check.
    if (key.use == key.token) continue;
    ESCROW_ASSIGN_OR_RETURN(const bool present, ObjectExists(session, key.token));
    if (!present) gone.push_back(id);
  }
  for (const KeyId& id : gone) ForgetKeyLocked(session, id);  // looked up again on next use
  return Status::Ok();
}

void SoftHsmKeyService::ForgetKeyLocked(Pkcs11Session& session, const KeyId& id) {
  auto it = keys_.find(id);
  if (it == keys_.end()) return;
  if (it->second.use != it->second.token) {
    const ScopedObject copy(session, it->second.use);  // C_DestroyObject, here
  }
  keys_.erase(it);
}

void SoftHsmKeyService::ForgetKeysLocked(Pkcs11Session& session) {
  while (!keys_.empty()) ForgetKeyLocked(session, keys_.begin()->first);
}

Result<KeyInfo> SoftHsmKeyService::GenerateKey(KeyRole role, std::uint32_t version,
                                               bool backup_capable) {
  const std::string label = KeyLabel(role, version);
  Result<KeyInfo> info = InLane(Retry::kNo, [&](Pkcs11Session& session) -> Result<KeyInfo> {
    ESCROW_ASSIGN_OR_RETURN(bool exists, LabelExists(session, label));
    if (exists) return Status::AlreadyExists("an object labelled " + label + " already exists");
    ESCROW_ASSIGN_OR_RETURN(CK_OBJECT_HANDLE handle,
                            GenerateKeyObject(session, role, version, backup_capable));
    ForgetKeyLocked(session, {role, version});  // the next use looks the new key up
    return ReadKeyInfo(session, handle, role, version);
  });
  if (!info.ok()) return info;
  // Outside the lane: other calls need not wait for the disk. The caller records the key as
  // usable only after this returns.
  ESCROW_RETURN_IF_ERROR(Synced(SyncToken(), "generated " + label));
  return info;
}

Result<KeyInfo> SoftHsmKeyService::FindKey(KeyRole role, std::uint32_t version) {
  return InLane(Retry::kOnce, [&](Pkcs11Session& session) -> Result<KeyInfo> {
    ESCROW_ASSIGN_OR_RETURN(const LaneKey key, KeyLocked(session, role, version));
    return ReadKeyInfo(session, key.token, role, version);
  });
}

Result<std::vector<KeyInfo>> SoftHsmKeyService::ListKeys() {
  return InLane(Retry::kOnce, [&](Pkcs11Session& session) -> Result<std::vector<KeyInfo>> {
    ESCROW_ASSIGN_OR_RETURN(std::vector<KeyInfo> keys, ListKeyObjects(session));
    // An empty or short list may mean the token or login went away (see CheckSessionAlive).
    ESCROW_RETURN_IF_ERROR(CheckSessionAlive(session, selector_));
    return keys;
  });
}

Status SoftHsmKeyService::DestroyKey(KeyRole role, std::uint32_t version) {
  const std::string label = KeyLabel(role, version);
  ESCROW_RETURN_IF_ERROR(InLane(Retry::kNo, [&](Pkcs11Session& session) -> Status {
    // The copy goes first; then a fresh lookup, not the cache: destroy exactly what the token
    // holds under the label now.
    ForgetKeyLocked(session, {role, version});
    ESCROW_ASSIGN_OR_RETURN(CK_OBJECT_HANDLE handle, FindTokenKeyLocked(session, role, version));
    return session.Check(session.fns()->C_DestroyObject(session.handle(), handle),
                         "C_DestroyObject");
  }));
  return Synced(SyncToken(), "destroyed " + label);
}

Result<Sealed> SoftHsmKeyService::Encrypt(std::uint32_t master_version,
                                          std::span<const std::uint8_t> plaintext,
                                          std::span<const std::uint8_t> aad) {
  return InLane(Retry::kOnce, [&](Pkcs11Session& session) -> Result<Sealed> {
    ESCROW_ASSIGN_OR_RETURN(const LaneKey key,
                            KeyLocked(session, KeyRole::kMaster, master_version));
    return GcmEncrypt(session, key.use, plaintext, aad);
  });
}

Result<SecretBytes> SoftHsmKeyService::Decrypt(std::uint32_t master_version, const Sealed& sealed,
                                               std::span<const std::uint8_t> aad) {
  // Wrong sizes can only come from an edited row; no need to ask the HSM.
  if (sealed.iv.size() != kGcmIvBytes || sealed.tag.size() != kGcmTagBytes) {
    return IntegrityFailure();
  }
  return InLane(Retry::kOnce, [&](Pkcs11Session& session) -> Result<SecretBytes> {
    ESCROW_ASSIGN_OR_RETURN(const LaneKey key,
                            KeyLocked(session, KeyRole::kMaster, master_version));
    Result<SecretBytes> plaintext = GcmDecrypt(session, key.use, sealed, aad);
    if (plaintext.ok()) return plaintext;
    const CK_RV rv = session.last_error();
    // A lost session or stale handle is the lane's business (reconnect, look up, retry).
    if (rv == CKR_OK || IsSessionLevelError(rv) || IsStaleHandleError(rv)) return plaintext;
    // SoftHSMv2 answers a bad tag with CKR_GENERAL_ERROR, as it answers a fault; NSS's softoken
    // answers CKR_ENCRYPTED_DATA_INVALID, the spec's code, which a faulty module could give
    // too. Either way only a known-answer test on the same key tells a bad record (kDataLoss)
    // from a bad HSM (kUnavailable).
    Status probe = RunKnownAnswerTests(session, key.use);
    if (probe.ok()) return IntegrityFailure();
    return probe;
  });
}

namespace {
Status MacRoleOnly(KeyRole role) {
  if (role == KeyRole::kMaster) return Status::InvalidArgument("the master key never MACs");
  return Status::Ok();
}
}  // namespace

Result<Mac> SoftHsmKeyService::Sign(KeyRole role, std::uint32_t version,
                                    std::span<const std::uint8_t> data) {
  ESCROW_RETURN_IF_ERROR(MacRoleOnly(role));
  return InLane(Retry::kOnce, [&](Pkcs11Session& session) -> Result<Mac> {
    ESCROW_ASSIGN_OR_RETURN(const LaneKey key, KeyLocked(session, role, version));
    return HmacSign(session, key.use, data);
  });
}

Status SoftHsmKeyService::Verify(KeyRole role, std::uint32_t version,
                                 std::span<const std::uint8_t> data,
                                 std::span<const std::uint8_t> mac) {
  ESCROW_RETURN_IF_ERROR(MacRoleOnly(role));
  return InLane(Retry::kOnce, [&](Pkcs11Session& session) -> Status {
    ESCROW_ASSIGN_OR_RETURN(const LaneKey key, KeyLocked(session, role, version));
    return HmacVerify(session, key.use, data, mac);
  });
}

Result<std::optional<Bytes>> SoftHsmKeyService::ReadCheckpoint() {
  return InLane(Retry::kOnce, [&](Pkcs11Session& session) -> Result<std::optional<Bytes>> {
    ESCROW_ASSIGN_OR_RETURN(CheckpointScan scan, ScanCheckpoints(session, checkpoint_label_));
    if (scan.newest) {
      return std::optional<Bytes>(std::move(scan.objects[*scan.newest].record->value));
    }
    if (!scan.objects.empty()) {
      // Objects that all fail to decode are not "no checkpoint": that would let a damaged
      // token pass for a new one, and a database rollback go unnoticed. Fail closed.
      return Status::DataLoss("the token's " + checkpoint_label_ +
                              " object does not decode (damaged); remove it to go on");
    }
    // Nothing found may mean the token or login went away (see CheckSessionAlive).
    ESCROW_RETURN_IF_ERROR(CheckSessionAlive(session, selector_));
    ESCROW_ASSIGN_OR_RETURN(const bool keeps, DataObjectsLocked(session));
    if (!keeps) return NoDataObjects();
    return std::optional<Bytes>();
  });
}

Status SoftHsmKeyService::WriteCheckpoint(std::span<const std::uint8_t> value) {
  if (value.size() > kMaxCheckpointBytes) {
    return Status::InvalidArgument("checkpoint value of " + std::to_string(value.size()) +
                                   " bytes; at most " + std::to_string(kMaxCheckpointBytes));
  }
  // What step 2 syncs is what changed on the token since here.
  const TokenSnapshot before = SnapshotToken();
  // 1. A new object, one counter above the newest. Retrying is safe: if the lost call created
  // its object, the retry's is simply newer, and step 3 destroys the other.
  Result<std::uint64_t> counter =
      InLane(Retry::kOnce, [&](Pkcs11Session& session) -> Result<std::uint64_t> {
        ESCROW_ASSIGN_OR_RETURN(CheckpointScan scan, ScanCheckpoints(session, checkpoint_label_));
        std::uint64_t next = 1;
        if (scan.newest) {
          next = scan.objects[*scan.newest].record->counter + 1;
          if (next == 0) return Status::Internal("checkpoint counter exhausted");
        }
        Result<CK_OBJECT_HANDLE> created =
            CreateCheckpointObject(session, checkpoint_label_, next, value);
        if (!created.ok() && created.status().reason() == kNoDataObjects) data_objects_ = false;
        if (!created.ok()) return created.status();
        data_objects_ = true;
        return next;
      });
  if (!counter.ok()) return counter.status();
  // 2. Durable before anything older goes: a power cut must not keep the unlink of the old
  // file and lose the new one (SoftHSMv2 does not fsync). Outside the lane, as GenerateKey.
  ESCROW_RETURN_IF_ERROR(Synced(SyncTokenChanges(before), "wrote the checkpoint"));
  // 3. Only now the older objects (and any that do not decode). A newer or equal counter is a
  // concurrent writer's and stays. Not synced: an older object that comes back after a power
  // cut loses to the newer one, and the next write removes it again. The new checkpoint is
  // durable whatever happens here, so a failure is logged and left to the next write.
  const Status cleanup = InLane(Retry::kOnce, [&](Pkcs11Session& session) -> Status {
    ESCROW_ASSIGN_OR_RETURN(CheckpointScan scan, ScanCheckpoints(session, checkpoint_label_));
    for (const CheckpointObject& object : scan.objects) {
      if (object.record && object.record->counter >= *counter) continue;
      ESCROW_RETURN_IF_ERROR(session.Check(
          session.fns()->C_DestroyObject(session.handle(), object.handle), "C_DestroyObject"));
    }
    return Status::Ok();
  });
  if (!cleanup.ok()) {
    LogJson({{"event", "hsm_checkpoint_cleanup_failed"}, {"error", cleanup.ToString()}});
  }
  return Status::Ok();
}

Result<std::vector<NodeCheckpointValue>> SoftHsmKeyService::ReadEveryCheckpoint() {
  return InLane(Retry::kOnce,
                [&](Pkcs11Session& session) -> Result<std::vector<NodeCheckpointValue>> {
                  ESCROW_ASSIGN_OR_RETURN(auto nodes, ScanEveryNodeCheckpoint(session));
                  std::vector<NodeCheckpointValue> out;
                  for (auto& [node, scan] : nodes) {
                    NodeCheckpointValue value{node, std::nullopt};
                    if (scan.newest) value.value = std::move(scan.objects[*scan.newest].record->value);
                    out.push_back(std::move(value));
                  }
                  if (!out.empty()) return out;
                  // As ReadCheckpoint: nothing found may be a lost token, or no data objects.
                  ESCROW_RETURN_IF_ERROR(CheckSessionAlive(session, selector_));
                  ESCROW_ASSIGN_OR_RETURN(const bool keeps, DataObjectsLocked(session));
                  if (!keeps) return NoDataObjects();
                  return out;
                });
}

Status SoftHsmKeyService::ForgetOtherCheckpoints() {
  return InLane(Retry::kOnce, [&](Pkcs11Session& session) -> Status {
    ESCROW_ASSIGN_OR_RETURN(auto nodes, ScanEveryNodeCheckpoint(session));
    for (const auto& [node, scan] : nodes) {
      if (CheckpointLabel(node) == checkpoint_label_) continue;
      for (const CheckpointObject& object : scan.objects) {
        const CK_RV rv = session.fns()->C_DestroyObject(session.handle(), object.handle);
        if (rv == CKR_OBJECT_HANDLE_INVALID) continue;  // its node replaced it meanwhile
        ESCROW_RETURN_IF_ERROR(session.Check(rv, "C_DestroyObject"));
      }
    }
    return Status::Ok();
  });
}

Result<bool> SoftHsmKeyService::DataObjectsLocked(Pkcs11Session& session) {
  if (!data_objects_) {
    ESCROW_ASSIGN_OR_RETURN(const bool keeps, ModuleKeepsDataObjects(session));
    data_objects_ = keeps;
  }
  return *data_objects_;
}

Status SoftHsmKeyService::Probe(std::uint32_t master_version) {
  return InLane(Retry::kOnce, [&](Pkcs11Session& session) -> Status {
    ESCROW_ASSIGN_OR_RETURN(const LaneKey key,
                            KeyLocked(session, KeyRole::kMaster, master_version));
    return RunKnownAnswerTests(session, key.use);
  });
}

Result<EscrowKeyPair> SoftHsmKeyService::FindEscrowKeyPairLocked(Pkcs11Session& session,
                                                                  EscrowKeyKind kind,
                                                                  std::uint32_t version) {
  Result<EscrowKeyPair> pair = FindEscrowKeyPair(session, kind, version);
  if (!pair.ok() && pair.status().code() == Code::kNotFound) {
    // As FindTokenKeyLocked: a vanished token or login hides every key.
    ESCROW_RETURN_IF_ERROR(CheckSessionAlive(session, selector_));
  }
  return pair;
}

template <class Generate>
Result<EscrowKeyInfo> SoftHsmKeyService::GenerateEscrowKeyPair(EscrowKeyKind kind,
                                                               std::uint32_t version,
                                                               Generate&& generate) {
  const std::string label = EscrowKeyLabel(kind, version);
  Result<EscrowKeyInfo> info =
      InLane(Retry::kNo, [&](Pkcs11Session& session) -> Result<EscrowKeyInfo> {
        ESCROW_ASSIGN_OR_RETURN(bool exists, LabelExists(session, label));
        if (exists) return Status::AlreadyExists("an object labelled " + label + " already exists");
        ESCROW_ASSIGN_OR_RETURN(const EscrowKeyPair pair, generate(session));
        return ReadEscrowKeyInfo(session, pair, kind, version);
      });
  if (!info.ok()) return info;
  ESCROW_RETURN_IF_ERROR(Synced(SyncToken(), "generated " + label));
  return info;
}

Result<EscrowKeyInfo> SoftHsmKeyService::GenerateCmsKey(std::uint32_t version,
                                                        std::uint32_t rsa_bits) {
  if (rsa_bits != kCmsKeyBits2048 && rsa_bits != kCmsKeyBits3072) {
    return Status::InvalidArgument("an escrow key has 2048 or 3072 bits, not " +
                                   std::to_string(rsa_bits));
  }
  return GenerateEscrowKeyPair(EscrowKeyKind::kCms, version, [&](Pkcs11Session& session) {
    return GenerateCmsKeyPair(session, version, rsa_bits);
  });
}

Result<EscrowKeyInfo> SoftHsmKeyService::GenerateSigningKey(EscrowKeyKind kind,
                                                            std::uint32_t version) {
  if (!IsSigningKind(kind)) return Status::InvalidArgument("not a signing key kind");
  return GenerateEscrowKeyPair(kind, version, [&](Pkcs11Session& session) {
    return GenerateSigningKeyPair(session, kind, version);
  });
}

Result<EscrowKeyInfo> SoftHsmKeyService::FindEscrowKey(EscrowKeyKind kind, std::uint32_t version) {
  return InLane(Retry::kOnce, [&](Pkcs11Session& session) -> Result<EscrowKeyInfo> {
    ESCROW_ASSIGN_OR_RETURN(const EscrowKeyPair pair,
                            FindEscrowKeyPairLocked(session, kind, version));
    return ReadEscrowKeyInfo(session, pair, kind, version);
  });
}

Result<std::vector<EscrowKeyInfo>> SoftHsmKeyService::ListEscrowKeys() {
  return InLane(Retry::kOnce, [&](Pkcs11Session& session) -> Result<std::vector<EscrowKeyInfo>> {
    ESCROW_ASSIGN_OR_RETURN(std::vector<EscrowKeyInfo> keys, ListEscrowKeyPairs(session));
    ESCROW_RETURN_IF_ERROR(CheckSessionAlive(session, selector_));
    return keys;
  });
}

Status SoftHsmKeyService::DestroyEscrowKey(EscrowKeyKind kind, std::uint32_t version) {
  const std::string label = EscrowKeyLabel(kind, version);
  const Status destroyed = InLane(Retry::kNo, [&](Pkcs11Session& session) -> Status {
    ESCROW_ASSIGN_OR_RETURN(const EscrowKeyPair pair,
                            FindEscrowKeyPairLocked(session, kind, version));
    // The private half first: once it is gone the pair is unusable, whatever happens next.
    ESCROW_RETURN_IF_ERROR(
        session.Check(session.fns()->C_DestroyObject(session.handle(), pair.private_key),
                      "C_DestroyObject"));
    return session.Check(session.fns()->C_DestroyObject(session.handle(), pair.public_key),
                         "C_DestroyObject");
  });
  if (!destroyed.ok()) return destroyed;
  return Synced(SyncToken(), "destroyed " + label);
}

Result<Bytes> SoftHsmKeyService::EcdsaSign(EscrowKeyKind kind, std::uint32_t version,
                                           std::span<const std::uint8_t> data) {
  if (!IsSigningKind(kind)) return Status::InvalidArgument("not a signing key kind");
  return InLane(Retry::kOnce, [&](Pkcs11Session& session) -> Result<Bytes> {
    ESCROW_ASSIGN_OR_RETURN(const EscrowKeyPair pair,
                            FindEscrowKeyPairLocked(session, kind, version));
    return EcdsaSignSha256(session, pair.private_key, data);
  });
}

OpenedEnvelope SoftHsmKeyService::OpenEnvelope(const EnvelopeToOpen& envelope) {
  // The lane answers a Result: an outage or a missing key as a Status, everything the
  // envelope decides as a value (OpenedEnvelope carries its own failures).
  Result<OpenedEnvelope> opened =
      InLane(Retry::kOnce, [&](Pkcs11Session& session) -> Result<OpenedEnvelope> {
        ESCROW_ASSIGN_OR_RETURN(
            const EscrowKeyPair pair,
            FindEscrowKeyPairLocked(session, EscrowKeyKind::kCms, envelope.escrow_key_version));
        OpenedEnvelope result = OpenEnvelopeInToken(session, pair.private_key, envelope);
        if (result.cause == EnvelopeCause::kHsmUnavailable) return result.content.status();
        return result;
      });
  if (opened.ok()) return std::move(opened).value();
  const EnvelopeCause cause = opened.status().code() == Code::kNotFound
                                  ? EnvelopeCause::kNoSuchKey
                                  : EnvelopeCause::kHsmUnavailable;
  return {EnvelopeFailure(cause), cause};
}

}  // namespace escrow::hsm
