// EscrowService: storing and releasing recovery keys.

#include <algorithm>
#include <limits>
#include <optional>
#include <vector>

#include "hsm/escrow_keys.h"
#include "vault/approval_mac.h"
#include "vault/associated_data.h"
#include "vault/device_state.h"
#include "vault/escrow_service.h"
#include "vault/escrow_service_impl.h"
#include "vault/key_format.h"
#include "vault/key_id.h"
#include "vault/meta.h"

namespace escrow::vault {
namespace {

// 'asked version=N; stated reason="..."; ' for what a retrieval asked ("" for nothing).
std::string SaidInRetrieval(std::string_view reason, std::optional<std::uint32_t> version) {
  std::string out;
  if (version) out += "asked version=" + std::to_string(*version) + "; ";
  // Cut to the longest valid reason; the audit log escapes whatever is not clean text.
  if (!reason.empty()) out += "stated reason=\"" + std::string(reason.substr(0, 500)) + "\"; ";
  return out;
}

// The device's versions that retention may count, oldest first: those not destroyed. A
// version without a fingerprint (stored before `vaultctl upgrade`) is left out, never
// destroyed: nothing else would keep its key known.
Result<std::vector<std::uint32_t>> RetainedVersions(storage::KeyVersionReader& versions,
                                                    std::string_view id) {
  ESCROW_ASSIGN_OR_RETURN(std::vector<storage::KeyVersionRow> rows, versions.List(id));
  std::vector<std::uint32_t> out;
  for (const storage::KeyVersionRow& r : rows) {
    if (r.state != VersionState::kDestroyed && r.fingerprint) out.push_back(r.version);
  }
  return out;
}

// Of `kept` (oldest first), those to destroy when one more version is stored and `keep`
// versions, the new one counted, are to remain.
std::vector<std::uint32_t> ToDestroy(const std::vector<std::uint32_t>& kept, int keep) {
  if (keep <= 0) return {};
  const auto stay = static_cast<std::size_t>(keep - 1);
  if (kept.size() <= stay) return {};
  return {kept.begin(), kept.end() - static_cast<std::ptrdiff_t>(stay)};
}

}  // namespace

std::int64_t SecondsUntilSlotFrees(const storage::QuotaWindow& window, std::int64_t now_ms) {
  const std::int64_t oldest_ms = std::min(window.oldest_ms.value_or(now_ms), now_ms);
  const std::int64_t wait_ms = oldest_ms + kQuotaWindowMs - now_ms;
  return std::max<std::int64_t>(1, (wait_ms + 999) / 1000);
}

Status EscrowService::Impl::AcceptsStore(const Caller& caller, Action action, std::string_view id,
                                         const storage::DeviceRow& row) {
  if (!row.encryption_enabled) {
    return Deny(caller, action, id,
                Status::FailedPrecondition("encryption not enabled for this device",
                                           "encryption_not_enabled"));
  }
  if (!row.last_checkin_ms ||
      FromUnixMillis(*row.last_checkin_ms) + options.checkin_window < clock.Now()) {
    return Deny(
        caller, action, id,
        Status::FailedPrecondition("device has not checked in recently", "device_not_synced"));
  }
  return Status::Ok();
}

Result<StoreKeyResult> EscrowService::StoreKey(const Caller& caller, std::string_view id,
                                               const SecretBytes& key, const SecretBytes* confirm,
                                               const StoreKeyExtras& extras) {
  Result<StoreKeyResult> r = StoreKeyOnce(caller, id, key, confirm, extras);
  for (int retry = 0; retry < kStateChangedRetries && !r.ok() &&
                      r.status().reason() == kStateChanged;
       ++retry) {
    r = StoreKeyOnce(caller, id, key, confirm, extras);
  }
  return r;
}

Result<StoreKeyResult> EscrowService::StoreKeyOnce(const Caller& caller, std::string_view id,
                                                   const SecretBytes& key,
                                                   const SecretBytes* confirm,
                                                   const StoreKeyExtras& extras) {
  Impl& m = *impl_;
  constexpr Action kAction = Action::kStoreKey;
  std::lock_guard lock(m.StripeFor(id));
  // Everything the store reads, from one snapshot: the device, its current and burned
  // versions, the last version number and the active master key.
  std::optional<storage::KeyVersionRow> current;
  std::uint32_t latest = 0;
  std::vector<std::uint32_t> kept;  // the versions not destroyed, oldest first (retention)
  Result<std::uint32_t> mkv = Status::Unavailable("the active master-key version was not read");
  Result<StateEvidence> evidence = Status::NotFound("not read");
  Impl::DeviceRead read =
      m.ReadDevice(id, [&](storage::ReadTxn& txn, const storage::DeviceRow& device) -> Status {
        ESCROW_ASSIGN_OR_RETURN(current, txn.versions().Current(device));
        ESCROW_ASSIGN_OR_RETURN(latest, txn.versions().LatestNumber(id));
        if (m.options.keep_versions > 0) {
          ESCROW_ASSIGN_OR_RETURN(kept, RetainedVersions(txn.versions(), id));
        }
        evidence = ReadStateEvidence(txn.states(), txn.audit(), id);
        // A failure here is a refusal of its own, audited where the seal needs the version.
        mkv = Impl::ActiveMasterKeyVersion(txn.meta());
        return Status::Ok();
      });
  Result<storage::DeviceRow> row = m.Authorize(caller, kAction, id, std::move(read.device));
  if (!row.ok()) return row.status();

  // 400s: presence, format, confirmation.
  if (confirm == nullptr && caller.kind == Caller::Kind::kUser) {
    return m.Deny(caller, kAction, id,
                  Status::InvalidArgument("confirm_recovery_key is required.", "invalid_request"));
  }
  Result<SecretBytes> normal = NormalizeRecoveryKey(row->platform, key);
  if (!normal.ok()) return m.Deny(caller, kAction, id, normal.status());
  if (confirm != nullptr) {
    Result<SecretBytes> normal_confirm = NormalizeRecoveryKey(row->platform, *confirm);
    if (!normal_confirm.ok() || !ConstantTimeEquals(*normal, *normal_confirm)) {
      return m.Deny(
          caller, kAction, id,
          Status::InvalidArgument("Keys must match. Check keys and try again.", "keys_mismatch"));
    }
  }
  std::optional<std::string> key_id;
  if (extras.key_id) {
    Result<std::string> normal_id = NormalizeKeyId(row->platform, *extras.key_id);
    if (!normal_id.ok()) return m.Deny(caller, kAction, id, normal_id.status());
    key_id = std::move(*normal_id);
  }
  // 409s: the organisation's and the device's state.
  ESCROW_RETURN_IF_ERROR(m.AcceptsStore(caller, kAction, id, *row));
  const TimePoint now = m.clock.Now();

  if (!read.more.ok()) return m.ReadFailed(caller, kAction, id, read.more);
  Result<storage::DeviceStateRow> state = m.TrustedState(id, evidence, *row, current);
  if (!state.ok()) return m.Deny(caller, kAction, id, state.status());
  // Keys are compared by their keyed fingerprints, never by decrypting (one HMAC here).
  Result<Bytes> fingerprint = m.FingerprintOf(*row, *normal);
  if (!fingerprint.ok()) {
    return m.Deny(caller, kAction, id,
                  Status::Unavailable(fingerprint.status().message(), "store_failed"));
  }
  storage::DeviceStateRow next = *state;
  // The CMS route's replay record, in the commit that stores (or keeps) the key. Recorded for
  // this device before: kept as it is; for another: the whole commit is refused.
  auto record_envelope = [&](storage::WriteTxn& txn) -> Status {
    if (!extras.envelope_digest) return Status::Ok();
    ESCROW_ASSIGN_OR_RETURN(const std::optional<std::string> seen,
                            txn.escrow_certs().EnvelopeDevice(*extras.envelope_digest));
    if (seen && *seen != id) {
      return Status::InvalidArgument(std::string(hsm::kEnvelopeDoesNotOpen),
                                     std::string(hsm::kInvalidCms));
    }
    if (seen) return Status::Ok();
    return txn.escrow_certs().RecordEnvelope(*extras.envelope_digest, id, ToUnixMillis(now));
  };
  // The key ID is sealed with the key: the same key under another ID is a new version.
  if (current && current->fingerprint && ConstantTimeEquals(*current->fingerprint, *fingerprint) &&
      (!key_id || key_id == current->key_id)) {
    // Already current: no new version, and a pending rotation stays pending. The record is
    // a state change all the same (its audit record names the device): the state follows it.
    // Like any store, it clears the verify mark (escrow_verified_at).
    const bool was_verified = current->verified_ms.has_value();
    Status s = m.pipeline.Commit(
        [&](storage::WriteTxn& txn) -> Status {
          ESCROW_RETURN_IF_ERROR(record_envelope(txn));
          if (!was_verified) return Status::Ok();
          return txn.versions().SetVerified(id, current->version, std::nullopt);
        },
        {m.Event(caller, kAction, id, "ok", {},
                 "unchanged version=" + std::to_string(current->version))},
        m.WriteState(std::move(next)));
    if (!s.ok() && s.reason() == hsm::kInvalidCms) return s;  // a replay, raced in
    if (!s.ok() && s.reason() == kStateChanged) return s;     // another node: tried again
    if (!s.ok()) return Status::Unavailable(s.message(), "store_failed");
    return StoreKeyResult{current->version, FromUnixMillis(current->stored_ms), false};
  }
  // A seen key stays burned: a key released before, or stored under an earlier owner, is
  // stored as burned and leaves (or sets) a rotation pending. Any other key clears one.
  const bool burned = IsBurned(*state, *fingerprint);
  next.rotation_pending = burned;
  // A cleared rotation takes its command with it: the next one may have its own.
  if (!next.rotation_pending) next.rotation_command_sent = false;

  storage::KeyVersionRow v;
  v.device_id = std::string(id);
  if (latest == std::numeric_limits<std::uint32_t>::max()) {
    return m.Deny(caller, kAction, id,
                  Status::FailedPrecondition("no key version number left", "store_failed"));
  }
  v.version = latest + 1;
  v.kind = row->platform;
  v.owner = row->owner;
  v.ownership = row->ownership;
  v.state = VersionState::kActive;
  v.stored_ms = ToUnixMillis(now);
  v.stored_by = caller.name();
  v.stored_by_kind = caller.principal_kind();
  v.burned = burned;
  v.fingerprint = *fingerprint;
  v.fingerprint_key_version = m.options.fingerprint_key_version;
  v.key_id = key_id;
  v.source = extras.source
                 ? *extras.source
                 : (caller.kind == Caller::Kind::kMdm ? KeySource::kMdm : KeySource::kTyped);
  next.current_version = v.version;
  // Retention: with the new version, keep_versions are left; older ones are destroyed in the
  // same commit (all of them superseded by then). Their fingerprints stay in their rows, and
  // the state record's burned set is not touched: a seen key stays burned.
  const std::vector<std::uint32_t> destroyed = ToDestroy(kept, m.options.keep_versions);
  std::string destroyed_detail;
  for (const std::uint32_t n : destroyed) {
    destroyed_detail += (destroyed_detail.empty() ? " destroyed=" : ",") + std::to_string(n);
  }
  const std::string changed = "master_key_changed";
  // Seals under the active master key and commits; a master-key rotation that switches the
  // active version in between makes the transaction refuse, and we seal again.
  // The first attempt seals under the version read with the device; a retry reads it again.
  bool first_attempt = true;
  auto seal_and_commit = [&]() -> Status {
    if (!first_attempt) mkv = m.ActiveMasterKeyVersion();
    first_attempt = false;
    if (!mkv.ok()) return m.Deny(caller, kAction, id, mkv.status());
    v.master_key_version = *mkv;
    std::optional<std::string_view> aad_key_id;
    if (v.key_id) aad_key_id = *v.key_id;
    const Bytes aad = RecoveryKeyAad(row->platform, id, v.version, v.master_key_version,
                                     row->ownership, row->owner, aad_key_id);
    Result<hsm::Sealed> sealed = m.keys.Encrypt(*mkv, normal->RevealSecret(), aad);
    if (!sealed.ok()) {
      return m.Deny(caller, kAction, id,
                    Status::Unavailable(sealed.status().message(), "store_failed"));
    }
    v.iv = std::move(sealed->iv);
    v.ciphertext = std::move(sealed->ciphertext);
    v.tag = std::move(sealed->tag);
    Status s = m.pipeline.Commit(
        [&](storage::WriteTxn& txn) -> Status {
          Result<std::uint32_t> active =
              ReadMetaVersion(txn.meta(), MetaKey::kActiveMasterKeyVersion);
          const bool gone = !active.ok() && (active.status().code() == Code::kNotFound ||
                                             active.status().code() == Code::kDataLoss);
          if (!active.ok() && !gone) return active.status();
          if (gone || *active != v.master_key_version) {
            return Status::FailedPrecondition("the active master key changed", changed);
          }
          ESCROW_RETURN_IF_ERROR(txn.versions().SupersedeActive(id));
          ESCROW_RETURN_IF_ERROR(txn.versions().Insert(v));
          for (const std::uint32_t n : destroyed) {
            ESCROW_RETURN_IF_ERROR(txn.versions().Destroy(id, n));
          }
          ESCROW_RETURN_IF_ERROR(record_envelope(txn));
          if (row->rotation_pending != next.rotation_pending) {
            ESCROW_RETURN_IF_ERROR(
                txn.devices().SetRotationPending(id, next.rotation_pending, v.stored_ms));
          }
          return Status::Ok();
        },
        {WithEvent(m.Event(caller, kAction, id, "ok", {},
                           "version=" + std::to_string(v.version) +
                               (v.source == KeySource::kCms ? " source=cms" : "") +
                               (burned ? " burned_key rotation_pending"
                                       : (row->rotation_pending ? " rotation_cleared" : "")) +
                               destroyed_detail),
                   MakeEventNote(kEventKeyStored, row->name, v.owner))},
        m.WriteState(next));
    if (!s.ok() && s.reason() == hsm::kInvalidCms) return s;  // a replay, raced in
    if (!s.ok() && s.reason() == kStateChanged) return s;     // another node: tried again
    if (!s.ok() && s.reason() != changed) return Status::Unavailable(s.message(), "store_failed");
    return s;
  };
  Status s = seal_and_commit();
  for (int retry = 0; retry < 3 && s.reason() == changed; ++retry) s = seal_and_commit();
  if (s.reason() == changed) return Status::Unavailable(s.message(), "store_failed");
  ESCROW_RETURN_IF_ERROR(s);
  return StoreKeyResult{v.version, FromUnixMillis(v.stored_ms), true};
}

Result<RetrievedKey> EscrowService::Retrieve(const Caller& caller, std::string_view id,
                                             std::string_view reason,
                                             std::optional<std::uint32_t> version,
                                             std::optional<std::string_view> access_request) {
  Result<RetrievedKey> r = RetrieveOnce(caller, id, reason, version, access_request);
  for (int retry = 0; retry < kStateChangedRetries && !r.ok() &&
                      r.status().reason() == kStateChanged;
       ++retry) {
    r = RetrieveOnce(caller, id, reason, version, access_request);
  }
  return r;
}

Result<RetrievedKey> EscrowService::RetrieveOnce(const Caller& caller, std::string_view id,
                                                 std::string_view reason,
                                                 std::optional<std::uint32_t> version,
                                                 std::optional<std::string_view> access_request) {
  Impl& m = *impl_;
  // Every record of a refused attempt keeps what the caller said: the version and reason
  // (built only for a refusal; a release records them in its own fields).
  auto deny = [&](Action a, Status status, std::string detail = {}) {
    std::string what = detail.empty() ? status.message() : std::move(detail);
    return m.Deny(caller, a, id, std::move(status), SaidInRetrieval(reason, version) + what);
  };
  std::lock_guard lock(m.StripeFor(id));
  const TimePoint now = m.clock.Now();
  const std::int64_t now_ms = ToUnixMillis(now);
  const std::int64_t window_start_ms = now_ms - kQuotaWindowMs;  // events after it count
  // Only a helpdesk or admin retrieval can count against a quota (Decision::via_role).
  const bool may_count = m.options.daily_quota > 0 && caller.kind == Caller::Kind::kUser &&
                         (caller.roles.Has(Role::kHelpdesk) || caller.roles.Has(Role::kAdmin));
  // Everything the store reads, from one snapshot: the device, its current version, the
  // version asked for and the caller's quota window.
  std::optional<storage::KeyVersionRow> current;
  std::optional<storage::KeyVersionRow> asked;
  std::optional<storage::QuotaWindow> used;
  std::optional<storage::AccessRequestRow> approval;  // the access request named, if any
  Result<StateEvidence> evidence = Status::NotFound("not read");
  Impl::DeviceRead read =
      m.ReadDevice(id, [&](storage::ReadTxn& txn, const storage::DeviceRow& device) -> Status {
        evidence = ReadStateEvidence(txn.states(), txn.audit(), id);
        ESCROW_ASSIGN_OR_RETURN(current, txn.versions().Current(device));
        if (access_request) {
          ESCROW_ASSIGN_OR_RETURN(approval, txn.access_requests().Get(*access_request));
        }
        if (version && !(current && current->version == *version)) {
          ESCROW_ASSIGN_OR_RETURN(asked, txn.versions().Get(id, *version));
        }
        if (may_count) {
          ESCROW_ASSIGN_OR_RETURN(
              used, txn.limits().GetQuotaWindow(caller.QualifiedName(), window_start_ms));
        }
        return Status::Ok();
      });
  Result<storage::DeviceRow> row = std::move(read.device);
  if (!row.ok()) return deny(Action::kRetrieveCurrent, row.status());
  const Subject device_subject = SubjectOf(*row);
  if (!CanSee(caller, device_subject)) {
    return deny(Action::kRetrieveCurrent,
                Status::NotFound("device not visible to caller", "device_not_found"));
  }
  if (!read.more.ok()) {
    return m.ReadFailed(caller, Action::kRetrieveCurrent, id, read.more,
                        SaidInRetrieval(reason, version));
  }
  // The version asked for: the current one unless another number is given.
  const storage::KeyVersionRow* target = current ? &*current : nullptr;
  if (version && !(current && current->version == *version)) {
    if (asked && asked->state == VersionState::kDestroyed) asked.reset();
    target = asked ? &*asked : nullptr;
  }
  const bool is_current = current ? target == &*current : target == nullptr;
  const Action action =
      (version && !is_current) ? Action::kRetrieveOlder : Action::kRetrieveCurrent;
  const Status no_key = Status::NotFound("no recovery key stored", "recovery_key_not_found");
  if (target == nullptr) {
    // Policy first, so that a caller without any right learns nothing about versions.
    Decision d = Decide(caller, action, &device_subject);
    if (!d.allowed) return deny(action, d.denial);
    return deny(action, no_key);
  }
  // A version is released only under the owner and ownership it was stored with.
  const Subject recorded{target->owner, target->ownership};
  Decision d = Decide(caller, action, &recorded);
  if (!d.visible) return deny(action, no_key);  // a previous owner's version
  if (!d.allowed) return deny(action, d.denial);
  // Dual control: a listed role, not the version's recorded owner, names an approved request
  // of its own for this device (403 here; what is wrong with a request it owns is a 409 below,
  // after the 400s, in API.md's order).
  const bool needs_approval = caller.kind == Caller::Kind::kUser &&
                              caller.roles.Intersects(m.options.approval_roles) &&
                              target->owner != caller.user;
  if (needs_approval && (!approval || approval->requester != caller.QualifiedName() ||
                         approval->device_id != id)) {
    return deny(action,
                Status::PermissionDenied("This retrieval needs an approved access request.",
                                         "approval_required"),
                access_request ? "approval_required: access_request=\"" +
                                     std::string(access_request->substr(0, 64)) +
                                     "\" is not this requester's for this device"
                               : "approval_required: no access request named");
  }
  if (d.reason_required && !IsValidReason(reason)) {
    return deny(action, Status::InvalidArgument("A reason (1 to 500 characters) is required.",
                                                "invalid_request"));
  }
  if (!reason.empty() && !IsValidReason(reason)) {
    return deny(action, Status::InvalidArgument("reason must be 1 to 500 characters without "
                                                "control characters.",
                                                "invalid_request"));
  }
  if (needs_approval && (storage::EffectiveState(*approval, now_ms) !=
                             storage::AccessRequestState::kApproved ||
                         approval->version != target->version)) {
    return deny(action,
                Status::FailedPrecondition("the access request is not usable",
                                           "access_request_not_usable"),
                "access_request=" + approval->id + " state=" +
                    std::string(storage::AccessRequestStateName(
                        storage::EffectiveState(*approval, now_ms))) +
                    " version=" + std::to_string(approval->version));
  }
  if (needs_approval) {
    // Only an approval the vault made (its MAC, from the HSM) is used.
    Status genuine = CheckApproval(m.keys, *approval);
    if (!genuine.ok()) {
      return deny(action, genuine, "access_request=" + approval->id + " " + genuine.message());
    }
  }
  const std::optional<std::string> used_request =
      needs_approval ? std::optional<std::string>(approval->id) : std::nullopt;
  const bool quota_applies = d.via_role && m.options.daily_quota > 0;
  auto over_quota = [&](const storage::QuotaWindow& window) {
    return Status::ResourceExhausted("retrieval quota for 24 hours reached",
                                     SecondsUntilSlotFrees(window, now_ms), "rate_limited");
  };
  if (quota_applies) {
    if (!used) return Status::Internal("the quota window was not read");
    if (used->count >= m.options.daily_quota) {
      return deny(action, over_quota(*used), "alert: daily quota exceeded");
    }
  }

  // Nothing is released from rows the state record does not vouch for: a current version
  // flipped back, a pending flag or burned mark cleared, a record rolled back.
  Result<storage::DeviceStateRow> state = m.TrustedState(id, evidence, *row, current);
  if (!state.ok()) return deny(action, state.status());
  if (!target->fingerprint) {
    return deny(action, Status::DataLoss(
                            "version " + std::to_string(target->version) + " has no fingerprint",
                            "integrity_error"));
  }
  storage::DeviceStateRow next = std::move(*state);
  Burn(next, *target->fingerprint);
  if (m.options.rotate_after_retrieval) {
    next.rotation_pending = true;
    // A person saw the key: the mdm may close the rotation with one rotation command.
    next.rotation_command_sent = false;
  }

  Result<SecretBytes> plain = m.Open(*target);
  if (!plain.ok()) {
    return deny(action, plain.status(), "version=" + std::to_string(target->version));
  }
  const std::uint32_t released = target->version;
  // Fail closed: the key leaves only after this record is durable.
  Status s = m.pipeline.Commit(
      [&](storage::WriteTxn& txn) -> Status {
        // Counted again under the write lock, as concurrent releases may all have passed the
        // check above. A refusal rolls this change back, the event and the pruning alike.
        if (quota_applies) {
          ESCROW_ASSIGN_OR_RETURN(
              storage::QuotaWindow counted,
              txn.limits().AddQuotaEvent(caller.QualifiedName(), now_ms, window_start_ms));
          if (counted.count > m.options.daily_quota) return over_quota(counted);
        }
        // Used once: a conditional update in this commit, so of racing releases on one
        // approval (on any node) only one finds it approved.
        if (used_request) {
          ESCROW_ASSIGN_OR_RETURN(const bool marked,
                                  txn.access_requests().Use(*approval, now_ms));
          if (!marked) {
            return Status::FailedPrecondition("the access request was used or expired",
                                              "access_request_not_usable");
          }
        }
        ESCROW_RETURN_IF_ERROR(txn.versions().SetBurned(id, released));
        if (m.options.rotate_after_retrieval) {
          ESCROW_RETURN_IF_ERROR(txn.devices().SetRotationPending(id, true, now_ms));
        }
        return Status::Ok();
      },
      {WithEvent(m.Event(caller, action, id, "ok", std::string(reason),
                         "version=" + std::to_string(released) +
                             (used_request ? " access_request=" + *used_request : "")),
                 MakeEventNote(kEventKeyRetrieved, row->name, target->owner, reason,
                               caller.kind == Caller::Kind::kUser && target->owner == caller.user))},
      m.WriteState(std::move(next)), /*releases_key=*/true);
  if (!s.ok()) {
    if (s.code() == Code::kResourceExhausted) {
      return deny(action, s, "alert: daily quota exceeded");
    }
    if (s.reason() == "access_request_not_usable") {
      return deny(action, s, "access_request=" + *used_request + " used by a racing release");
    }
    if (s.reason() == kStateChanged) return s;  // another node: tried again
    return Status::Unavailable(s.message(), "unavailable");
  }
  return RetrievedKey{std::move(*plain), released, now + m.options.key_display};
}

}  // namespace escrow::vault
