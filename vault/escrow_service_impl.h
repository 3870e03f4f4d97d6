#pragma once

// Private to vault/: the state shared by escrow_service*.cc.

#include <array>
#include <atomic>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "hsm/key_service.h"
#include "storage/store.h"
#include "vault/device_state.h"
#include "vault/escrow_service.h"
#include "vault/health_monitor.h"
#include "vault/periodic_task.h"

namespace escrow::vault {

// The reason of a commit refused because another node changed the device's state record since
// the request read it (WriteState); StoreKey and Retrieve then run again from the read.
inline constexpr std::string_view kStateChanged = "device_state_changed";
inline constexpr int kStateChangedRetries = 3;

struct EscrowService::Impl {
  Impl(hsm::KeyService& k, storage::Store& s, const Clock& c, EscrowOptions o)
      : keys(k),
        store(s),
        clock(c),
        pipeline(k, s, c, o.audit_key_version, o.audit_checkpoint, o.audit_batch_max),
        options(std::move(o)) {
    pipeline.SetReleaseGuard(options.release_guard);
    if (options.sign_checkpoints) pipeline.EnableCheckpointSigning(options.signing_key_recheck);
  }

  hsm::KeyService& keys;
  storage::Store& store;
  const Clock& clock;
  // The only writer: every change and audit record of the service.
  CommitPipeline pipeline;
  const EscrowOptions options;
  // Operations on one device are serialised by a striped lock (one node; a multi-node
  // deployment relies on the transaction's own checks instead).
  std::array<std::mutex, 64> stripes;
  // The newest count of overdue rotations (the gauge); -1 before the first sweep.
  std::atomic<std::int64_t> overdue_count{-1};
  // Set by StartHealthMonitor and StartOverdueSweep; declared last, so that their threads stop
  // first.
  std::unique_ptr<HealthMonitor> health;
  std::unique_ptr<PeriodicTask> sweeper;

  std::mutex& StripeFor(std::string_view device_id);

  // Audits a denial or failure and returns `status` (or kUnavailable if it cannot be audited:
  // fail closed).
  Status Deny(const Caller& caller, Action action, std::string_view device_id, Status status,
              std::string detail = {});
  AuditEvent Event(const Caller& caller, Action action, std::string_view device_id,
                   std::string outcome, std::string reason = {}, std::string detail = {}) const;
  // Audits a successful read-only operation.
  Status AuditOk(const Caller& caller, Action action, std::string_view device_id,
                 std::string detail = {});

  // What one request read about one device, from one snapshot.
  struct DeviceRead {
    // The device, or device_not_found (an invalid id, or none stored), or the failure to
    // read it: callers audit any of these as a refusal.
    Result<storage::DeviceRow> device = Status::NotFound("no such device", "device_not_found");
    // The failure of the reads after the device's, if any.
    Status more;
  };
  using MoreReads = std::function<Status(storage::ReadTxn&, const storage::DeviceRow&)>;
  // One read transaction for a request about one device (one connection, one snapshot,
  // instead of a lease per row): loads the device and, if found, runs `more` on the same
  // snapshot. An invalid id reads nothing.
  DeviceRead ReadDevice(std::string_view id, const MoreReads& more = nullptr);
  // Decides `action` on a loaded device for `caller`; every refusal (a failed load included)
  // is audited.
  Result<storage::DeviceRow> Authorize(const Caller& caller, Action action, std::string_view id,
                                       Result<storage::DeviceRow> row);
  // The device's side of a store (both store routes, after Authorize): 409
  // encryption_not_enabled, then 409 device_not_synced, each audited as a denial.
  Status AcceptsStore(const Caller& caller, Action action, std::string_view id,
                      const storage::DeviceRow& row);
  // A failed read after the device's: a row that cannot be ours is answered and audited as
  // integrity_error (DESIGN.md, invariant 2); anything else (the database busy or gone) is
  // returned as it is, unaudited.
  // `detail_prefix` goes before the storage's message in the audit record.
  Status ReadFailed(const Caller& caller, Action action, std::string_view id, Status status,
                    std::string detail_prefix = {});
  // The active master-key version, read in `meta`'s transaction or in one of its own.
  static Result<std::uint32_t> ActiveMasterKeyVersion(storage::MetaReader& meta);
  Result<std::uint32_t> ActiveMasterKeyVersion();
  // Decrypts one stored version under the associated data of its own row. When the token
  // lacks the row's master-key version, the row is read again: sealed anew meanwhile (a
  // rotation, then --retire-old), it is opened as it is now. A version the token still lacks
  // is integrity_error, unless TokenBehind: then 503 unavailable.
  Result<SecretBytes> Open(const storage::KeyVersionRow& row);
  // OK if master-key `version` is missing from this node's token because the token is behind
  // the database (per-node tokens after a rotation made elsewhere, before `master-key restore
  // --add`): the database names it (up to the active version or rotation target) and the token
  // holds no master key of that version or newer. kNotFound if not (a row naming a version
  // never made, or one retired here: not ours); other codes if the database or HSM failed.
  Status TokenBehind(std::uint32_t version);

  // The device's state record, checked (device_state.h: CheckStateEvidence) and compared with
  // the rows this request read from the same snapshot: the current version and the pending
  // flag must be what the record says, and the current version's burned mark must agree with
  // the record's burned set. Any difference is kDataLoss integrity_error; the HSM's
  // kUnavailable as it is.
  Result<storage::DeviceStateRow> TrustedState(
      std::string_view id, const Result<StateEvidence>& evidence, const storage::DeviceRow& row,
      const std::optional<storage::KeyVersionRow>& current);
  // A commit's finish that writes `next` as the device's state record, naming the commit's
  // last audit record and MACed in the HSM.
  // Seals `next` to the chain tip and puts it, in the commit. `next` is the state record the
  // request read, changed: unless the record in the database is still that one (its MAC and
  // audit position; none for a new device), another node changed the device since the read,
  // and the commit is refused (kUnavailable, kStateChanged: nothing was written).
  CommitPipeline::Finish WriteState(storage::DeviceStateRow next);
  // The device's own certificate of the current escrow key: the one issued before, or a new
  // one, recorded with its audit record (`caller`'s, action escrow_cert.issue_device). Call
  // with the device's stripe held, after deciding the caller may have it.
  Result<storage::EscrowCertRow> DeviceCertificate(const Caller& caller, std::string_view id);
  // Rotations pending since this instant or earlier are overdue now.
  std::int64_t OverdueSinceMs() const;
  // The keyed fingerprint of a normalised key on this device (API.md), in the HSM.
  Result<Bytes> FingerprintOf(const storage::DeviceRow& row, const SecretBytes& normalised);
};

// `record` with the event (events.h) its commit writes beside it.
inline AuditEvent WithEvent(AuditEvent record, EventNote event) {
  record.event = std::move(event);
  return record;
}

// Reasons are free text for the audit trail: 1 to 500 bytes, no control characters
// (retrievals and access requests).
inline bool IsValidReason(std::string_view s) { return IsPlainText(s, 500); }

// Helpdesk and admin retrievals count against their quota for this long after each one: a
// rolling window, because a count per UTC day could be spent twice across midnight.
inline constexpr std::int64_t kQuotaWindowMs = std::int64_t{24} * 3600 * 1000;

// Seconds until the oldest retrieval in `window` leaves it and frees a slot (at least 1). An
// event timed after `now_ms` (the clock was set back) is taken as now's: never an overflow.
std::int64_t SecondsUntilSlotFrees(const storage::QuotaWindow& window, std::int64_t now_ms);

// The device as API.md shows it, from its row and its current version (if any); a rotation
// pending since `overdue_since_ms` or earlier is overdue.
Device ToDevice(const storage::DeviceRow& row, const std::optional<storage::KeyVersionRow>& current,
                std::int64_t overdue_since_ms);
// A device listing's page: `after` a valid device id, `limit` 1 to kMaxDevicePageLimit; else
// kInvalidArgument invalid_request.
Status CheckDevicePaging(const DevicePaging& paging);
// The policy subject of a device: its present owner and ownership.
Subject SubjectOf(const storage::DeviceRow& row);

}  // namespace escrow::vault
