#include "vault/escrow_service.h"

#include <algorithm>
#include <functional>
#include <optional>
#include <vector>

#include "vault/associated_data.h"
#include "vault/device_state.h"
#include "vault/escrow_service_impl.h"
#include "vault/fingerprint.h"
#include "vault/key_id.h"
#include "vault/meta.h"

namespace escrow::vault {
namespace {

// Names, serials and owners: 1 to 256 bytes without control characters.
bool IsValidLabel(std::string_view s) { return IsPlainText(s, 256); }

std::int64_t NowMs(const Clock& clock) { return ToUnixMillis(clock.Now()); }

// A stored row that cannot be ours (storage answers kDataLoss) is answered as a failed tag
// is: one code and message for every integrity failure (STYLE §2).
Status FromStore(Status s) {
  if (s.code() != Code::kDataLoss) return s;
  return Status::DataLoss("A stored record failed its integrity check.", "integrity_error");
}

}  // namespace

// ---- Impl helpers ----------------------------------------------------------------------

std::mutex& EscrowService::Impl::StripeFor(std::string_view device_id) {
  return stripes[std::hash<std::string_view>{}(device_id) % stripes.size()];
}

AuditEvent EscrowService::Impl::Event(const Caller& caller, Action action,
                                      std::string_view device_id, std::string outcome,
                                      std::string reason, std::string detail) const {
  return AuditEvent{caller.QualifiedName(), caller.RoleName(), std::string(ActionName(action)),
                    std::string(device_id), std::move(outcome), std::move(reason),
                    std::move(detail), std::nullopt};
}

Status EscrowService::Impl::Deny(const Caller& caller, Action action, std::string_view device_id,
                                 Status status, std::string detail) {
  const bool failure = status.code() == Code::kDataLoss || status.code() == Code::kUnavailable ||
                       status.code() == Code::kInternal;
  std::string reason =
      status.reason().empty() ? std::string(CodeName(status.code())) : status.reason();
  if (detail.empty()) detail = status.message();
  Status audited = pipeline.Append(
      Event(caller, action, device_id, failure ? "error" : "denied", reason, std::move(detail)));
  if (!audited.ok()) return Status::Unavailable("audit unavailable: " + audited.message());
  return status;
}

Status EscrowService::Impl::AuditOk(const Caller& caller, Action action, std::string_view device_id,
                                    std::string detail) {
  Status s = pipeline.Append(Event(caller, action, device_id, "ok", {}, std::move(detail)));
  if (!s.ok()) return Status::Unavailable("audit unavailable: " + s.message());
  return s;
}

EscrowService::Impl::DeviceRead EscrowService::Impl::ReadDevice(std::string_view id,
                                                                const MoreReads& more) {
  DeviceRead read;
  if (!IsValidDeviceId(id)) return read;  // device_not_found, without a read
  bool ran = false;
  Status s = store.Read([&](storage::ReadTxn& txn) -> Status {
    ran = true;
    Result<std::optional<storage::DeviceRow>> row = txn.devices().Get(id);
    if (!row.ok()) {
      read.device = FromStore(row.status());
      return Status::Ok();
    }
    if (!row->has_value()) return Status::Ok();  // device_not_found
    read.device = std::move(**row);
    if (more) read.more = more(txn, *read.device);
    return Status::Ok();
  });
  if (!ran) {
    read.device = s.ok() ? Status::Internal("the read transaction did not run") : s;
  } else if (!s.ok() && read.device.ok() && read.more.ok()) {
    read.more = s;  // the snapshot itself failed after the reads
  }
  return read;
}

Result<storage::DeviceRow> EscrowService::Impl::Authorize(const Caller& caller, Action action,
                                                          std::string_view id,
                                                          Result<storage::DeviceRow> row) {
  if (!row.ok()) return Deny(caller, action, id, row.status());
  const Subject subject = SubjectOf(*row);
  Decision d = Decide(caller, action, &subject);
  if (!d.allowed) return Deny(caller, action, id, d.denial);
  return row;
}

Status EscrowService::Impl::ReadFailed(const Caller& caller, Action action, std::string_view id,
                                       Status status, std::string detail_prefix) {
  if (status.code() != Code::kDataLoss) return status;
  std::string detail = std::move(detail_prefix) + status.message();
  return Deny(caller, action, id, FromStore(std::move(status)), std::move(detail));
}

Status CheckDevicePaging(const DevicePaging& paging) {
  if ((paging.after && !IsValidDeviceId(*paging.after)) || paging.limit == 0 ||
      paging.limit > kMaxDevicePageLimit) {
    return Status::InvalidArgument("after must be a device id and limit 1 to 1000.",
                                   "invalid_request");
  }
  return Status::Ok();
}

Subject SubjectOf(const storage::DeviceRow& row) { return Subject{row.owner, row.ownership}; }

Device ToDevice(const storage::DeviceRow& row, const std::optional<storage::KeyVersionRow>& current,
                std::int64_t overdue_since_ms) {
  Device d;
  d.id = row.id;
  d.serial = row.serial;
  d.name = row.name;
  d.platform = row.platform;
  d.ownership = row.ownership;
  d.owner = row.owner;
  d.encryption_enabled = row.encryption_enabled;
  d.rotation_pending = row.rotation_pending;
  if (row.rotation_pending && row.rotation_requested_ms) {
    d.rotation_requested_at = FromUnixMillis(*row.rotation_requested_ms);
    d.rotation_overdue = *row.rotation_requested_ms <= overdue_since_ms;
  }
  if (row.last_checkin_ms) d.last_checkin_at = FromUnixMillis(*row.last_checkin_ms);
  if (current) {
    d.has_recovery_key = true;
    d.key_version = current->version;
    d.key_stored_at = FromUnixMillis(current->stored_ms);
    // The current version's own mark: a store makes a new version without one.
    if (current->verified_ms) d.escrow_verified_at = FromUnixMillis(*current->verified_ms);
  }
  return d;
}

std::int64_t EscrowService::Impl::OverdueSinceMs() const {
  return NowMs(clock) -
         std::chrono::duration_cast<std::chrono::milliseconds>(options.rotation_deadline).count();
}

Result<std::uint32_t> EscrowService::Impl::ActiveMasterKeyVersion(storage::MetaReader& meta) {
  Result<std::uint32_t> version = ReadMetaVersion(meta, MetaKey::kActiveMasterKeyVersion);
  if (!version.ok() && version.status().code() == Code::kNotFound) {
    return Status::Unavailable("no active master-key version in the database");
  }
  return version;
}

Result<std::uint32_t> EscrowService::Impl::ActiveMasterKeyVersion() {
  return storage::ReadValue(
      store, [](storage::ReadTxn& txn) { return ActiveMasterKeyVersion(txn.meta()); });
}

Status EscrowService::Impl::TokenBehind(std::uint32_t version) {
  // The newest version the database names: the active one, or the one a rotation makes.
  Result<std::uint32_t> newest =
      storage::ReadValue(store, [](storage::ReadTxn& txn) -> Result<std::uint32_t> {
        ESCROW_ASSIGN_OR_RETURN(const std::uint32_t active, ActiveMasterKeyVersion(txn.meta()));
        ESCROW_ASSIGN_OR_RETURN(const std::optional<std::uint32_t> target,
                                ReadOptionalMetaVersion(txn.meta(), MetaKey::kRotationTarget));
        return std::max(active, target.value_or(0));
      });
  if (!newest.ok()) return newest.status();
  if (version > *newest) return Status::NotFound("the database names no such master key");
  Result<std::vector<hsm::KeyInfo>> held = keys.ListKeys();
  if (!held.ok()) return held.status();
  for (const hsm::KeyInfo& key : *held) {
    // An older version than one the token holds was retired here: the row is not ours.
    if (key.role == hsm::KeyRole::kMaster && key.version >= version) {
      return Status::NotFound("the token holds newer master keys");
    }
  }
  return Status::Ok();
}

Result<SecretBytes> EscrowService::Impl::Open(const storage::KeyVersionRow& row) {
  ESCROW_ASSIGN_OR_RETURN(const Bytes aad, AadForRow(row));
  std::uint32_t master_version = row.master_key_version;
  Result<SecretBytes> plain =
      keys.Decrypt(master_version, hsm::Sealed{row.iv, row.ciphertext, row.tag}, aad);
  if (!plain.ok() && plain.status().code() == Code::kNotFound) {
    // A rotation may have sealed the row again under a newer key since this request read it,
    // and `--retire-old` destroyed the key it was read under: open the row as it is now, under
    // the associated data of the row this request read (so it must be the same record).
    Result<std::optional<storage::KeyVersionRow>> now = storage::ReadValue(
        store,
        [&](storage::ReadTxn& txn) { return txn.versions().Get(row.device_id, row.version); });
    if (!now.ok()) return Status::Unavailable(now.status().message(), "unavailable");
    if (*now && (*now)->master_key_version != master_version) {
      master_version = (*now)->master_key_version;
      ESCROW_ASSIGN_OR_RETURN(const Bytes now_aad, AadForRow(row, master_version));
      plain = keys.Decrypt(master_version, hsm::Sealed{(*now)->iv, (*now)->ciphertext, (*now)->tag},
                           now_aad);
    }
  }
  if (!plain.ok()) {
    if (plain.status().code() == Code::kNotFound) {
      Status behind = TokenBehind(master_version);
      if (behind.ok()) {
        return Status::Unavailable(
            "this node's HSM token holds no escrow-master-v" + std::to_string(master_version) +
                " (a rotation made elsewhere: run `vaultctl master-key restore --add` here)",
            "unavailable");
      }
      if (behind.code() != Code::kNotFound) {
        return Status::Unavailable(behind.message(), "unavailable");
      }
    }
    if (plain.status().code() == Code::kDataLoss || plain.status().code() == Code::kNotFound) {
      return Status::DataLoss("A stored record failed its integrity check.", "integrity_error");
    }
    return Status::Unavailable(plain.status().message(), "unavailable");
  }
  return plain;
}

Result<storage::DeviceStateRow> EscrowService::Impl::TrustedState(
    std::string_view id, const Result<StateEvidence>& evidence, const storage::DeviceRow& row,
    const std::optional<storage::KeyVersionRow>& current) {
  if (!evidence.ok()) return FromStore(evidence.status());
  ESCROW_RETURN_IF_ERROR(CheckStateEvidence(keys, id, *evidence));
  const storage::DeviceStateRow& state = *evidence->state;
  const auto broken = [](const std::string& what) {
    return Status::DataLoss("device state record: " + what, "integrity_error");
  };
  const std::uint32_t rows_current = current ? current->version : 0;
  if (state.current_version != rows_current) {
    return broken("current version " + std::to_string(state.current_version) +
                  ", the key versions say " + std::to_string(rows_current));
  }
  if (state.rotation_pending != row.rotation_pending) {
    return broken(std::string("rotation ") + (state.rotation_pending ? "pending" : "not pending") +
                  ", the device row says otherwise");
  }
  if (current) {
    if (!current->fingerprint) return broken("the current version has no fingerprint");
    if (current->burned != IsBurned(state, *current->fingerprint)) {
      return broken("the current version's burned mark disagrees with the burned set");
    }
  }
  return state;
}

CommitPipeline::Finish EscrowService::Impl::WriteState(storage::DeviceStateRow next) {
  return [this, next = std::move(next)](storage::WriteTxn& txn,
                                        const ChainTip& last) mutable -> Status {
    // Under the audit head's lock: the record must still be the one this request read. Each
    // node's per-device lock holds only its own requests; without this check, a request that
    // read the device before another node's commit would write back a record that contradicts
    // the rows that commit made (integrity_error on every later request).
    ESCROW_ASSIGN_OR_RETURN(const std::optional<storage::DeviceStateRow> stored,
                            txn.states().Get(next.device_id));
    const bool same = stored ? stored->audit_seq == next.audit_seq && stored->mac == next.mac
                             : next.mac.empty();
    if (!same) {
      return Status::Unavailable("another node changed the device meanwhile; nothing was changed",
                                 std::string(kStateChanged));
    }
    Status sealed = SealState(keys, options.state_key_version, last.seq, last.hash, next);
    if (!sealed.ok()) return Status::Unavailable("state MAC: " + sealed.message(), "unavailable");
    return txn.states().Put(next);
  };
}

Result<Bytes> EscrowService::Impl::FingerprintOf(const storage::DeviceRow& row,
                                                 const SecretBytes& normalised) {
  Result<Bytes> fp =
      Fingerprint(keys, options.fingerprint_key_version, row.platform, row.id, normalised);
  if (!fp.ok()) return Status::Unavailable("fingerprint: " + fp.status().message(), "unavailable");
  return fp;
}

// ---- Service ---------------------------------------------------------------------------

EscrowService::EscrowService(hsm::KeyService& keys, storage::Store& store, const Clock& clock,
                             EscrowOptions options)
    : impl_(std::make_unique<Impl>(keys, store, clock, std::move(options))) {}

Result<std::unique_ptr<EscrowService>> EscrowService::Open(hsm::KeyService& keys,
                                                           storage::Store& store,
                                                           const Clock& clock,
                                                           EscrowOptions options) {
  std::unique_ptr<EscrowService> service(new EscrowService(keys, store, clock, std::move(options)));
  ESCROW_RETURN_IF_ERROR(service->impl_->pipeline.Start());
  return service;
}

CommitPipeline& EscrowService::commits() { return impl_->pipeline; }

EscrowService::~EscrowService() {
  // The monitor's and the sweep's threads call into this service: stop them while everything
  // is still whole.
  if (impl_) {
    impl_->sweeper.reset();
    impl_->health.reset();
  }
}

Result<PutDeviceResult> EscrowService::PutDevice(const Caller& caller, std::string_view id,
                                                 const DeviceSpec& spec) {
  Impl& m = *impl_;
  Decision enrol = Decide(caller, Action::kEnrolDevice, nullptr);
  if (!enrol.allowed) return m.Deny(caller, Action::kEnrolDevice, id, enrol.denial);
  if (!IsValidDeviceId(id)) {
    return m.Deny(caller, Action::kEnrolDevice, {},
                  Status::InvalidArgument("Device ids are 1 to 128 characters of A-Z, a-z, "
                                          "0-9, '.', '_' and '-'.",
                                          "invalid_request"));
  }
  std::lock_guard lock(m.StripeFor(id));
  // One snapshot: the device as it is, and the current version it will have under the spec's
  // platform, owner and ownership (the upsert below changes no version's state, and the
  // stripe lock keeps this node's other writes to the device out until it is answered).
  storage::DeviceRow as_specified;
  as_specified.id = std::string(id);
  as_specified.platform = spec.platform;
  as_specified.owner = spec.owner;
  as_specified.ownership = spec.ownership;
  std::optional<storage::DeviceRow> existing;
  std::optional<storage::KeyVersionRow> current;
  // For an existing device: its current version as it is, every version (a new owner burns
  // them all) and its state record, which must be the vault's before it is written anew.
  std::optional<storage::KeyVersionRow> current_before;
  std::vector<storage::KeyVersionRow> versions;
  Result<StateEvidence> evidence = Status::NotFound("not read");
  ESCROW_RETURN_IF_ERROR(FromStore(m.store.Read([&](storage::ReadTxn& txn) -> Status {
    ESCROW_ASSIGN_OR_RETURN(existing, txn.devices().Get(id));
    ESCROW_ASSIGN_OR_RETURN(current, txn.versions().Current(as_specified));
    if (existing) {
      ESCROW_ASSIGN_OR_RETURN(current_before, txn.versions().Current(*existing));
      ESCROW_ASSIGN_OR_RETURN(versions, txn.versions().List(id));
      evidence = ReadStateEvidence(txn.states(), txn.audit(), id);
    }
    return Status::Ok();
  })));
  const bool owner_changed =
      existing && (existing->owner != spec.owner || existing->ownership != spec.ownership);
  if (owner_changed) {
    Decision change = Decide(caller, Action::kChangeOwnership, nullptr);
    if (!change.allowed) {
      return m.Deny(caller, Action::kChangeOwnership, id,
                    Status::PermissionDenied("Only the MDM service may change a device's owner "
                                             "or ownership.",
                                             "forbidden"));
    }
  }
  if (!IsValidLabel(spec.serial) || !IsValidLabel(spec.name) || !IsValidLabel(spec.owner)) {
    return m.Deny(caller, Action::kEnrolDevice, id,
                  Status::InvalidArgument("serial, name and owner must be 1 to 256 characters "
                                          "without control characters.",
                                          "invalid_request"));
  }
  const std::int64_t now = NowMs(m.clock);
  storage::DeviceRow row;
  row.id = std::string(id);
  row.serial = spec.serial;
  row.name = spec.name;
  row.platform = spec.platform;
  row.ownership = spec.ownership;
  row.owner = spec.owner;
  row.encryption_enabled = spec.encryption_enabled;
  row.created_ms = existing ? existing->created_ms : now;
  row.updated_ms = now;
  row.last_checkin_ms = existing ? existing->last_checkin_ms : std::nullopt;
  const bool platform_changed = existing && existing->platform != row.platform;
  row.rotation_pending =
      existing ? (existing->rotation_pending || owner_changed || platform_changed) : false;
  // A rotation pending already keeps its time and note; one that becomes pending starts now.
  if (existing && existing->rotation_pending) {
    row.rotation_requested_ms = existing->rotation_requested_ms;
    row.rotation_overdue_noted = existing->rotation_overdue_noted;
  } else if (row.rotation_pending) {
    row.rotation_requested_ms = now;
  }

  // The state record after this change: a new device has none yet; an existing one's must be
  // the vault's, and a new owner burns every key the device has had (the previous owner
  // knows them all).
  storage::DeviceStateRow next;
  next.device_id = row.id;
  if (existing) {
    Result<storage::DeviceStateRow> state = m.TrustedState(id, evidence, *existing, current_before);
    if (!state.ok()) return m.Deny(caller, Action::kEnrolDevice, id, state.status());
    next = std::move(*state);
    if (owner_changed) {
      Status burned =
          BurnVersions(next, versions, [](const storage::KeyVersionRow&) { return true; });
      if (!burned.ok()) return m.Deny(caller, Action::kEnrolDevice, id, std::move(burned));
    }
  }
  next.current_version = current ? current->version : 0;
  next.rotation_pending = row.rotation_pending;
  // A rotation the mdm caused itself is never one it may close with a rotation command (it
  // could otherwise open one for any device): a person must ask for it (RequestRotation).
  if (owner_changed || platform_changed) next.rotation_command_sent = true;

  std::vector<AuditEvent> events;
  events.push_back(
      m.Event(caller, Action::kEnrolDevice, id, "ok", {}, existing ? "replaced" : "created"));
  if (owner_changed) {
    events.push_back(m.Event(caller, Action::kChangeOwnership, id, "ok", {},
                             "owner or ownership changed; rotation pending"));
  }
  Status s = m.pipeline.Commit(
      [&](storage::WriteTxn& txn) -> Status {
        ESCROW_RETURN_IF_ERROR(txn.devices().Upsert(row));
        // The previous owner knows these keys: a rotation must move away from all of them.
        if (owner_changed) ESCROW_RETURN_IF_ERROR(txn.versions().BurnActive(id));
        return Status::Ok();
      },
      std::move(events), m.WriteState(std::move(next)));
  if (!s.ok()) return s;
  return PutDeviceResult{ToDevice(row, current, m.OverdueSinceMs()), !existing.has_value()};
}

Result<Device> EscrowService::GetDevice(const Caller& caller, std::string_view id) {
  Impl& m = *impl_;
  std::optional<storage::KeyVersionRow> current;
  Impl::DeviceRead read =
      m.ReadDevice(id, [&](storage::ReadTxn& txn, const storage::DeviceRow& row) -> Status {
        ESCROW_ASSIGN_OR_RETURN(current, txn.versions().Current(row));
        return Status::Ok();
      });
  Result<storage::DeviceRow> row =
      m.Authorize(caller, Action::kViewDevice, id, std::move(read.device));
  if (!row.ok()) return row.status();
  if (!read.more.ok()) return m.ReadFailed(caller, Action::kViewDevice, id, read.more);
  Device device = ToDevice(*row, current, m.OverdueSinceMs());
  ESCROW_RETURN_IF_ERROR(m.AuditOk(caller, Action::kViewDevice, id));
  return device;
}

Result<DevicePage> EscrowService::ListDevices(const Caller& caller,
                                              std::optional<std::string_view> owner,
                                              std::optional<std::string_view> serial,
                                              std::optional<std::string_view> key_id,
                                              const DevicePaging& paging) {
  Impl& m = *impl_;
  const int filters = int{owner.has_value()} + int{serial.has_value()} + int{key_id.has_value()};
  if (filters > 1) {
    return m.Deny(caller, Action::kListOthers, {},
                  Status::InvalidArgument("Pass at most one of owner, serial and key_id.",
                                          "invalid_request"));
  }
  // By key ID, a user without a listing role finds only their own devices.
  bool own_by_key_id = false;
  std::optional<KeyIdSearch> search;
  if (key_id) {
    Decision d = Decide(caller, Action::kListOthers, nullptr);
    if (!d.allowed && caller.kind != Caller::Kind::kUser) {
      return m.Deny(caller, Action::kListOthers, {}, d.denial);
    }
    own_by_key_id = !d.allowed;
    Result<KeyIdSearch> parsed = ParseKeyIdSearch(*key_id);
    if (!parsed.ok()) return m.Deny(caller, Action::kListOthers, {}, parsed.status());
    search = std::move(*parsed);
  }
  const bool mine =
      !serial && !key_id &&
      (!owner || *owner == "me" || (caller.kind == Caller::Kind::kUser && *owner == caller.user));
  if (!key_id && (caller.kind != Caller::Kind::kUser || !mine)) {
    Decision d = Decide(caller, Action::kListOthers, nullptr);
    if (!d.allowed) return m.Deny(caller, Action::kListOthers, {}, d.denial);
  }
  if ((owner && !mine && !IsValidLabel(*owner)) || (serial && !IsValidLabel(*serial))) {
    return m.Deny(caller, Action::kListOthers, {},
                  Status::InvalidArgument("owner and serial must be 1 to 256 characters.",
                                          "invalid_request"));
  }
  if (Status s = CheckDevicePaging(paging); !s.ok()) {
    return m.Deny(caller, Action::kListOthers, {}, std::move(s));
  }
  // The devices and their current versions, from one snapshot. One more than the page is
  // read to know whether another page follows.
  DevicePage out;
  const std::int64_t overdue_since = m.OverdueSinceMs();
  Status read = m.store.Read([&](storage::ReadTxn& txn) -> Status {
    Result<std::vector<storage::DeviceRow>> found = Status::Internal("no listing ran");
    const std::size_t fetch = paging.limit + 1;
    if (search) {
      // Own devices only: the store keeps to the devices the caller owns now, so that a page
      // is not cut short by devices dropped after the LIMIT.
      std::optional<std::string_view> only_owner;
      if (own_by_key_id) only_owner = caller.user;
      found = txn.devices().ListByKeyId(search->key_id, search->prefix, only_owner, paging.after,
                                        fetch);
    } else if (serial) {
      found = txn.devices().ListBySerial(*serial, paging.after, fetch);
    } else {
      found = txn.devices().ListByOwner(mine ? std::string_view(caller.user) : *owner, paging.after,
                                        fetch);
    }
    if (!found.ok()) return found.status();
    const bool more = found->size() > paging.limit;
    if (more) found->resize(paging.limit);
    out.devices.reserve(found->size());
    for (const storage::DeviceRow& row : *found) {
      // Checked again here, as the answer must never hold another's device. The next page
      // starts after the last row read even if it was dropped, so the listing goes on.
      if (own_by_key_id && row.owner != caller.user) continue;
      ESCROW_ASSIGN_OR_RETURN(std::optional<storage::KeyVersionRow> current,
                              txn.versions().Current(row));
      out.devices.push_back(ToDevice(row, current, overdue_since));
    }
    if (more) out.next_after = found->back().id;
    return Status::Ok();
  });
  if (!read.ok()) return m.ReadFailed(caller, Action::kListOthers, {}, read);
  const char* what = key_id ? (own_by_key_id ? "own by key_id" : "key_id")
                            : (serial ? "serial" : (mine ? "own" : "owner"));
  ESCROW_RETURN_IF_ERROR(m.AuditOk(caller, Action::kListOthers, {}, what));
  return out;
}

Result<bool> EscrowService::CheckIn(const Caller& caller, std::string_view id) {
  Impl& m = *impl_;
  std::lock_guard lock(m.StripeFor(id));
  // The answer tells the device whether to rotate: the pending flag it comes from must be
  // the one the state record holds.
  std::optional<storage::KeyVersionRow> current;
  Result<StateEvidence> evidence = Status::NotFound("not read");
  Impl::DeviceRead read =
      m.ReadDevice(id, [&](storage::ReadTxn& txn, const storage::DeviceRow& device) -> Status {
        ESCROW_ASSIGN_OR_RETURN(current, txn.versions().Current(device));
        evidence = ReadStateEvidence(txn.states(), txn.audit(), id);
        return Status::Ok();
      });
  Result<storage::DeviceRow> row =
      m.Authorize(caller, Action::kCheckIn, id, std::move(read.device));
  if (!row.ok()) return row.status();
  if (!read.more.ok()) return m.ReadFailed(caller, Action::kCheckIn, id, read.more);
  if (Result<storage::DeviceStateRow> state = m.TrustedState(id, evidence, *row, current);
      !state.ok()) {
    return m.Deny(caller, Action::kCheckIn, id, state.status());
  }
  const std::int64_t now = NowMs(m.clock);
  const bool rotate = row->rotation_pending;
  ESCROW_RETURN_IF_ERROR(m.pipeline.Commit(
      [&](storage::WriteTxn& txn) { return txn.devices().SetCheckin(id, now); },
      {m.Event(caller, Action::kCheckIn, id, "ok", {}, rotate ? "rotation_required" : "")}));
  return rotate;
}

Status EscrowService::RequestRotation(const Caller& caller, std::string_view id) {
  Impl& m = *impl_;
  std::lock_guard lock(m.StripeFor(id));
  std::optional<storage::KeyVersionRow> current;
  std::vector<storage::KeyVersionRow> versions;
  Result<StateEvidence> evidence = Status::NotFound("not read");
  Impl::DeviceRead read =
      m.ReadDevice(id, [&](storage::ReadTxn& txn, const storage::DeviceRow& device) -> Status {
        ESCROW_ASSIGN_OR_RETURN(current, txn.versions().Current(device));
        ESCROW_ASSIGN_OR_RETURN(versions, txn.versions().List(id));
        evidence = ReadStateEvidence(txn.states(), txn.audit(), id);
        return Status::Ok();
      });
  Result<storage::DeviceRow> row =
      m.Authorize(caller, Action::kRequestRotation, id, std::move(read.device));
  if (!row.ok()) return row.status();
  if (!read.more.ok()) return m.ReadFailed(caller, Action::kRequestRotation, id, read.more);
  Result<storage::DeviceStateRow> state = m.TrustedState(id, evidence, *row, current);
  if (!state.ok()) return m.Deny(caller, Action::kRequestRotation, id, state.status());
  // A requested rotation must move away from the keys in use now: every active version.
  storage::DeviceStateRow next = std::move(*state);
  next.rotation_pending = true;
  // A person asked: the mdm may close it with one rotation command.
  next.rotation_command_sent = false;
  Status burned = BurnVersions(next, versions, [](const storage::KeyVersionRow& v) {
    return v.state == VersionState::kActive;
  });
  if (!burned.ok()) return m.Deny(caller, Action::kRequestRotation, id, std::move(burned));
  const std::int64_t now = NowMs(m.clock);
  return m.pipeline.Commit(
      [&](storage::WriteTxn& txn) -> Status {
        ESCROW_RETURN_IF_ERROR(txn.devices().SetRotationPending(id, true, now));
        return txn.versions().BurnActive(id);
      },
      {WithEvent(m.Event(caller, Action::kRequestRotation, id, "ok"),
                 MakeEventNote(kEventRotationRequested, row->name,
                               current ? current->owner : row->owner))},
      m.WriteState(std::move(next)));
}

Result<std::vector<VersionInfo>> EscrowService::ListVersions(const Caller& caller,
                                                             std::string_view id) {
  Impl& m = *impl_;
  std::vector<storage::KeyVersionRow> rows;
  Impl::DeviceRead read =
      m.ReadDevice(id, [&](storage::ReadTxn& txn, const storage::DeviceRow&) -> Status {
        ESCROW_ASSIGN_OR_RETURN(rows, txn.versions().List(id));
        return Status::Ok();
      });
  Result<storage::DeviceRow> row =
      m.Authorize(caller, Action::kViewDevice, id, std::move(read.device));
  if (!row.ok()) return row.status();
  if (!read.more.ok()) return m.ReadFailed(caller, Action::kViewDevice, id, read.more);
  std::vector<VersionInfo> out;
  out.reserve(rows.size());
  for (const auto& r : rows) {
    // Judged by the version's recorded owner, as releases are: an owner sees what was stored
    // under them, never a previous owner's versions or who stored them; roles and the mdm
    // see every version.
    if (!CanSee(caller, Subject{r.owner, r.ownership})) continue;
    out.push_back(VersionInfo{r.version, r.state, FromUnixMillis(r.stored_ms), r.stored_by,
                              r.stored_by_kind, r.key_id, r.source});
  }
  ESCROW_RETURN_IF_ERROR(m.AuditOk(caller, Action::kViewDevice, id, "versions"));
  return out;
}

Result<AuditPage> EscrowService::ListAudit(const Caller& caller,
                                           std::optional<std::string_view> device_id,
                                           std::uint64_t after, std::size_t limit) {
  Impl& m = *impl_;
  Decision d = Decide(caller, Action::kReadAudit, nullptr);
  if (!d.allowed) return m.Deny(caller, Action::kReadAudit, device_id.value_or(""), d.denial);
  if (limit == 0 || limit > 1000) {
    return m.Deny(caller, Action::kReadAudit, {},
                  Status::InvalidArgument("limit must be 1 to 1000.", "invalid_request"));
  }
  ESCROW_ASSIGN_OR_RETURN(std::vector<storage::AuditRow> rows,
                          storage::ReadValue(m.store, [&](storage::ReadTxn& txn) {
                            return txn.audit().List(after, limit + 1, device_id);
                          }));
  AuditPage page;
  const bool more = rows.size() > limit;
  if (more) rows.resize(limit);
  for (const auto& row : rows) page.records.push_back(ToAuditRecord(row));
  if (more && !page.records.empty()) page.next_after = page.records.back().seq;
  ESCROW_RETURN_IF_ERROR(m.AuditOk(caller, Action::kReadAudit, device_id.value_or("")));
  return page;
}

Result<AuditVerifyReport> EscrowService::VerifyAudit(const Caller& caller,
                                                     const std::optional<AuditHead>& expected) {
  Impl& m = *impl_;
  Decision d = Decide(caller, Action::kReadAudit, nullptr);
  if (!d.allowed) return m.Deny(caller, Action::kReadAudit, {}, d.denial);
  ESCROW_ASSIGN_OR_RETURN(AuditVerifyReport report, m.pipeline.Verify(expected));
  ESCROW_RETURN_IF_ERROR(m.AuditOk(caller, Action::kReadAudit, {},
                                   report.ok ? "verify ok" : "verify failed: " + report.problem));
  return report;
}

Status EscrowService::AuthorizeMetrics(const Caller& caller) {
  Decision d = Decide(caller, Action::kMetrics, nullptr);
  if (!d.allowed) return impl_->Deny(caller, Action::kMetrics, {}, d.denial);
  return Status::Ok();
}

Result<storage::QuotaWindow> EscrowService::CountSharedAttempt(std::string_view counter,
                                                              std::chrono::seconds window) {
  Impl& m = *impl_;
  const std::int64_t now = NowMs(m.clock);
  const std::int64_t since =
      now - std::chrono::duration_cast<std::chrono::milliseconds>(window).count();
  storage::QuotaWindow counted;
  ESCROW_RETURN_IF_ERROR(m.pipeline.Commit(
      [&](storage::WriteTxn& txn) -> Status {
        ESCROW_ASSIGN_OR_RETURN(counted, txn.limits().AddQuotaEvent(counter, now, since));
        return Status::Ok();
      },
      {}));
  return counted;
}

void EscrowService::RecordSecurityEvent(std::string_view actor, std::string_view role,
                                        std::string_view action, std::string_view reason,
                                        std::string_view detail) {
  (void)impl_->pipeline.Append(AuditEvent{std::string(actor),
                                          std::string(role),
                                          std::string(action),
                                          {},
                                          "denied",
                                          std::string(reason),
                                          std::string(detail),
                                          std::nullopt});
}

HealthReport EscrowService::CheckHealth() {
  Impl& m = *impl_;
  HealthReport h;
  Result<std::uint32_t> mkv = m.ActiveMasterKeyVersion();
  if (!mkv.ok()) {
    h.ok = false;
    h.database = "unavailable";
    h.hsm = "unknown";
    return h;
  }
  if (!m.keys.FindKey(hsm::KeyRole::kMaster, *mkv).ok() ||
      !m.keys.FindKey(hsm::KeyRole::kAudit, m.pipeline.audit_key_version()).ok()) {
    h.ok = false;
    h.hsm = "unavailable";
  }
  return h;
}

HealthReport EscrowService::Health() {
  if (impl_->health) return impl_->health->Current();
  return CheckHealth();
}

void EscrowService::StartHealthMonitor(std::chrono::milliseconds interval) {
  if (impl_->health) return;
  impl_->health = std::make_unique<HealthMonitor>([this] { return CheckHealth(); }, interval);
  impl_->health->Start();
}

void EscrowService::NoteUnavailable() {
  if (impl_->health) impl_->health->Poke();
}

}  // namespace escrow::vault
