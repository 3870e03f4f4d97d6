#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/bytes.h"
#include "base/result.h"
#include "base/secret_bytes.h"
#include "storage/access_requests.h"
#include "storage/audit_checkpoints.h"
#include "vault/audit_chain.h"
#include "vault/commit_pipeline.h"
#include "vault/config.h"
#include "vault/events.h"
#include "vault/policy.h"
#include "vault/types.h"

namespace escrow::hsm {
class KeyService;
}
namespace escrow::storage {
class Store;
}

namespace escrow::vault {

struct EscrowOptions {
  std::chrono::seconds checkin_window{std::chrono::hours(24 * 7)};
  std::chrono::seconds key_display{std::chrono::minutes(5)};
  bool rotate_after_retrieval = true;
  int daily_quota = 25;  // helpdesk and admin retrievals per person per rolling 24 hours; 0 = off
  // Verify mismatches per device, whoever asks, in a rolling window; past it, 429. Count 0: off.
  RateLimit verify_mismatches{5, std::chrono::hours(1)};
  // POST .../rotation-command: off unless set; at most this many in a rolling 24 hours, all
  // mdm clients together (1 at least).
  bool mdm_rotation_command = false;
  int mdm_rotation_commands_per_day = 200;
  // A rotation pending longer than this is overdue; the sweep (StartOverdueSweep) notes each
  // overdue rotation once.
  std::chrono::seconds rotation_deadline{std::chrono::hours(24)};
  // Retention: key versions kept per device, the active one counted; a store destroys the
  // older superseded ones in its own commit (erased, row and fingerprint kept). 0: keep all.
  int keep_versions = 10;
  // Dual control (API.md): a retrieval by a holder of any of these roles, of a version not
  // recorded under them, needs an approved access request (none: never); requests live
  // approval_ttl.
  RoleSet approval_roles;
  std::chrono::seconds approval_ttl{3600};
  // Events ([events]): kept this many days, then deleted by the sweep; a notifier lagging
  // this long behind the oldest event gets one alert record per episode.
  int event_keep_days = 30;
  std::chrono::seconds event_lag_alert{std::chrono::hours(24)};
  // The service's commit pipeline (commit_pipeline.h): the audit key that MACs each group,
  // the most commits in one group, and where each committed group's head goes (the
  // checkpoint log line; may be empty).
  std::uint32_t audit_key_version = 1;
  // The keys of the second release's authenticated state: new fingerprints are made under
  // escrow-fingerprint-v<fingerprint_key_version>, state records MACed under
  // escrow-state-v<state_key_version> (vaultd reads both from the database's meta).
  std::uint32_t fingerprint_key_version = 1;
  std::uint32_t state_key_version = 1;
  int audit_batch_max = 256;
  CheckpointSink audit_checkpoint;
  // Keeps the head after each group that releases a key, before the release (vaultd: the
  // token's checkpoint, audit_checkpoint.h). Empty: none kept.
  CommitPipeline::ReleaseGuard release_guard;
  // Signed checkpoints (signed_checkpoint.h): the pipeline signs its groups' heads once a
  // signing key is recorded, looking for a newer one this often.
  bool sign_checkpoints = true;
  std::chrono::milliseconds signing_key_recheck = kSigningKeyRecheck;
};

// GET /v1/audit/checkpoints: signed checkpoints oldest first, and the PEM public key of every
// recorded signing key version (an auditor checks each signature under its key_version's).
struct CheckpointPage {
  std::vector<storage::AuditCheckpointRow> checkpoints;
  std::map<std::uint32_t, std::string> public_keys;  // version -> PEM
  std::optional<std::uint64_t> next_after;           // none at the end
};
inline constexpr std::size_t kDefaultCheckpointPageLimit = 100;
inline constexpr std::size_t kMaxCheckpointPageLimit = 1000;

struct PutDeviceResult {
  Device device;
  bool created = false;
};

// GET /v1/devices pages as /v1/audit does: 100 devices unless the caller asks for 1 to 1000.
inline constexpr std::size_t kDefaultDevicePageLimit = 100;
inline constexpr std::size_t kMaxDevicePageLimit = 1000;

struct DevicePaging {
  std::optional<std::string_view> after;  // a device id: the page starts after it
  std::size_t limit = kDefaultDevicePageLimit;
};

// One page of a device listing, in id order. next_after is the id to pass as `after` for the
// next page, set only when more devices follow.
struct DevicePage {
  std::vector<Device> devices;
  std::optional<std::string> next_after;
};

struct StoreKeyResult {
  std::uint32_t version = 0;
  TimePoint stored_at;
  bool created = false;  // false: the key was already current; no version was made
};

// What a store carries beside the key (API.md's second release).
struct StoreKeyExtras {
  // The key's ID as submitted (normalised by the service for the device's platform).
  std::optional<std::string> key_id;
  // How the key came in; none: `typed` for a user, `mdm` for the mdm (the CMS route passes
  // kCms).
  std::optional<KeySource> source;
  // The CMS route: SHA-256 of the accepted envelope's encrypted key, recorded for the device
  // in the commit that stores the version (the replay record). Recorded for another device
  // already: kInvalidArgument invalid_cms, nothing stored and nothing audited (the CMS route
  // audits it).
  std::optional<Bytes> envelope_digest;
};

struct VerifyResult {
  bool matches = false;
  std::uint32_t version = 0;
};

struct RetrievedKey {
  SecretBytes recovery_key;  // normalised plaintext; wipe the response that carries it
  std::uint32_t version = 0;
  TimePoint expires_at;
};

// What the mdm needs for RotateFileVaultKey (POST .../rotation-command).
struct RotationCommand {
  SecretBytes recovery_key;  // the current key, normalised; wipe the response that carries it
  std::uint32_t version = 0;
  Bytes reply_certificate_der;  // the device's own escrow certificate
};

// One release of a device's key (GET .../recovery-key/accesses), from its audit record.
struct KeyAccess {
  TimePoint at;
  std::string actor;   // qualified: "user:alice", "client:mdm-1"
  std::string role;
  std::string reason;  // as stated ("" if none was asked)
  std::optional<std::uint32_t> version;  // from the record's "version=N"
  bool by_owner = false;  // the actor is the user the version was recorded under
};

struct AccessPage {
  std::vector<KeyAccess> accesses;  // newest first
  // Pass as `before` for the next page; none on the last page.
  std::optional<std::uint64_t> next_after;
};

// An escrow certificate as API.md shows it ("Apple MDM escrow, opened inside the HSM").
struct EscrowCertificate {
  std::string serial;  // lowercase hex
  TimePoint not_before;
  TimePoint not_after;
  std::string sha256;  // of `der`, lowercase hex
  Bytes der;
  std::string state;  // "current", "active" or "retired"
};

// An access request as API.md shows it ("Dual control"). `state` is as of the read: a pending
// or approved request past expires_at shows as expired.
struct AccessRequest {
  std::uint64_t seq = 0;  // the listing's cursor
  std::string id;
  std::string device_id;
  std::string requester;  // kind-qualified ("user:hd")
  std::string reason;
  std::uint32_t version = 0;
  storage::AccessRequestState state = storage::AccessRequestState::kPending;
  TimePoint created_at;
  TimePoint expires_at;
  std::optional<std::string> approver;
  std::optional<TimePoint> decided_at;
  std::optional<std::string> note;
  std::optional<TimePoint> used_at;
};

struct AccessRequestPage {
  std::vector<AccessRequest> requests;
  std::optional<std::uint64_t> next_after;  // set when the page is full
};

struct HealthReport {
  bool ok = true;
  std::string hsm = "ok";
  std::string database = "ok";
};

// The escrow service: every operation of API.md goes through the policy decision, is
// audited (denials too), and releases plaintext only after its audit record is committed.
// Thread-safe; call from worker threads (it blocks on the HSM and on durable commits),
// never from an I/O thread. Operations on one device are serialised.
//
// Errors carry API.md's codes as Status::reason(): device_not_found (kNotFound),
// recovery_key_not_found (kNotFound), forbidden / personal_device (kPermissionDenied),
// invalid_request / invalid_recovery_key / keys_mismatch (kInvalidArgument),
// encryption_not_enabled / device_not_synced (kFailedPrecondition), rate_limited
// (kResourceExhausted), integrity_error (kDataLoss), store_failed / unavailable
// (kUnavailable).
//
// It owns the commit pipeline through which every change and audit record is written, and
// starts it: Open() fails (kDataLoss) if the newest audit group's MAC fails.
class EscrowService {
 public:
  static Result<std::unique_ptr<EscrowService>> Open(hsm::KeyService& keys, storage::Store& store,
                                                     const Clock& clock, EscrowOptions options);
  EscrowService(const EscrowService&) = delete;  // owns per-device locks
  EscrowService& operator=(const EscrowService&) = delete;
  EscrowService(EscrowService&&) = delete;  // nor moved: the API and monitor hold references
  EscrowService& operator=(EscrowService&&) = delete;
  ~EscrowService();

  // Every write of the service goes through it; tests and the audit routes read its chain.
  CommitPipeline& commits();

  Result<PutDeviceResult> PutDevice(const Caller& caller, std::string_view id,
                                    const DeviceSpec& spec);
  Result<Device> GetDevice(const Caller& caller, std::string_view id);
  // owner: "me" or a user; serial: a serial; key_id: a key ID or the first 8 hex digits of a
  // BitLocker one (key_id.h). At most one of them; none is owner "me". By key ID, a caller
  // without a listing role gets only the devices they own now, by versions recorded under
  // them. One page, in id order: `paging.after` must be a valid device id and `paging.limit` 1 to
  // kMaxDevicePageLimit, else invalid_request (kInvalidArgument).
  Result<DevicePage> ListDevices(const Caller& caller, std::optional<std::string_view> owner,
                                 std::optional<std::string_view> serial,
                                 std::optional<std::string_view> key_id = std::nullopt,
                                 const DevicePaging& paging = {});
  // GET /v1/devices?rotation=overdue (helpdesk, admin, auditor): devices whose rotation has
  // been pending longer than options.rotation_deadline, paged as ListDevices.
  Result<DevicePage> ListOverdueRotations(const Caller& caller, const DevicePaging& paging = {});
  // Returns rotation_required.
  Result<bool> CheckIn(const Caller& caller, std::string_view id);
  // `key` and `confirm` are the raw submitted strings (not yet normalised).
  // A key ID that breaks key_id.h's rule is invalid_request. The same key as the current one
  // with no key ID, or the same one, creates no version; another key ID makes a new version
  // (the ID is sealed with the key).
  Result<StoreKeyResult> StoreKey(const Caller& caller, std::string_view id, const SecretBytes& key,
                                  const SecretBytes* confirm, const StoreKeyExtras& extras = {});
  // PUT .../recovery-key/cms (vault/escrow_cms.cc, API.md "Apple MDM escrow, opened inside the
  // HSM"): the mdm stores the key a Mac encrypted to one of the vault's escrow certificates.
  // The device checks of a store come first (device_not_found, forbidden,
  // encryption_not_enabled, device_not_synced), then a key ID that breaks key_id.h's rule is
  // invalid_request; from decoding `cms_base64` onward every failure (not base64, not an
  // envelope, no recipient among the non-retired certificates, one addressed to another
  // device's certificate, a replay, the HSM not opening it, a key of the wrong format) is
  // kInvalidArgument invalid_cms, audited once with its cause (never the key or the
  // envelope). An HSM outage is kUnavailable. Then it stores as StoreKey, with source kCms.
  Result<StoreKeyResult> StoreCmsKey(const Caller& caller, std::string_view id,
                                     std::string_view cms_base64,
                                     const std::optional<std::string>& key_id);
  // Compares `key` (raw, not yet normalised) with a stored version by keyed fingerprint, in the
  // HSM under the fingerprint key that version names; never decrypts. The owner may check only
  // the current version recorded under them (`version` absent or that one), the mdm any version
  // not destroyed; else recovery_key_not_found. invalid_recovery_key for a key of the wrong
  // format; rate_limited (kResourceExhausted) once the device's mismatches fill
  // verify_mismatches, whoever made them; integrity_error for a state record or fingerprint
  // that is not the vault's. A match on the current version marks it verified (the device's
  // escrow_verified_at). Audited with the version and the outcome, never the key.
  Result<VerifyResult> VerifyKey(const Caller& caller, std::string_view id, const SecretBytes& key,
                                 std::optional<std::uint32_t> version);
  // With options.approval_roles set, a caller holding one of them who is not the version's
  // recorded owner names an approved access request (dual control, API.md), used by a
  // conditional update in the release's own commit, so one approval releases once whatever
  // races it. In API.md's order: device_not_found, personal_device, approval_required (none
  // named, or not this requester's, or for another device), invalid_request,
  // access_request_not_usable (kFailedPrecondition: not approved, expired, used, or for
  // another version). `access_request` is ignored where no approval is needed.
  Result<RetrievedKey> Retrieve(const Caller& caller, std::string_view id, std::string_view reason,
                                std::optional<std::uint32_t> version,
                                std::optional<std::string_view> access_request = std::nullopt);
  // Dual control (vault/escrow_access_requests.cc). POST .../access-requests: helpdesk and
  // admin, judged as the retrieval it asks for (device_not_found, recovery_key_not_found,
  // personal_device, invalid_request without a valid reason, rate_limited when the daily
  // quota is spent); the version asked for or the current one; pending for
  // options.approval_ttl. Audited (access_request.create).
  Result<AccessRequest> RequestAccess(const Caller& caller, std::string_view id,
                                      std::string_view reason,
                                      std::optional<std::uint32_t> version);
  // GET /v1/access-requests: approvers and admins see all, helpdesk their own; oldest first,
  // after `after`, at most `limit`; forbidden for anyone else.
  Result<AccessRequestPage> ListAccessRequests(const Caller& caller,
                                               std::optional<storage::AccessRequestState> state,
                                               std::uint64_t after, std::size_t limit);
  // POST /v1/access-requests/{rid}/approve or /deny: approvers and admins (forbidden),
  // access_request_not_found, self_approval (kPermissionDenied: the requester), invalid_request
  // (a note that is not plain text of at most 500 bytes), access_request_not_usable
  // (kFailedPrecondition: not pending, or expired). A conditional update: one decision wins.
  Result<AccessRequest> DecideAccessRequest(const Caller& caller, std::string_view request_id,
                                            bool approve, std::string_view note);
  Status RequestRotation(const Caller& caller, std::string_view id);
  // POST .../recovery-key/rotation-command (vault/escrow_rotation_command.cc): the current key
  // and the device's own escrow certificate, to the mdm, for RotateFileVaultKey. A release:
  // audited (key.rotation_command) before it returns, the version burned. In API.md's order:
  // forbidden (not the mdm, or options.mdm_rotation_command off), device_not_found,
  // invalid_request (not macos), recovery_key_not_found, personal_device (the current version
  // was stored as personal), integrity_error, rotation_not_pending (kFailedPrecondition: none
  // pending, or its command already sent), rate_limited (mdm_rotation_commands_per_day, with
  // an alert record), then conflict if the vault has no escrow certificate.
  Result<RotationCommand> IssueRotationCommand(const Caller& caller, std::string_view id);
  // Oldest first. A caller who sees the device only as its owner gets the versions recorded
  // under them (none of a previous owner's); roles and the mdm get every version.
  Result<std::vector<VersionInfo>> ListVersions(const Caller& caller, std::string_view id);
  // Who viewed this device's key (API.md): its releases (key.retrieve, key.retrieve_older,
  // key.rotation_command, outcome ok), newest first, up to `limit` records (1 to 1000) with
  // seq < `before` if given. A caller who sees the device only as its owner gets the releases
  // of versions recorded under them (a page may then hold fewer than `limit`, next_after
  // still set); helpdesk, admin and auditor get all. device_not_found, forbidden (the mdm),
  // invalid_request (limit); the read is audited (key.accesses).
  Result<AccessPage> ListAccesses(const Caller& caller, std::string_view id,
                                  std::optional<std::uint64_t> before, std::size_t limit);

  Result<AuditPage> ListAudit(const Caller& caller, std::optional<std::string_view> device_id,
                              std::uint64_t after, std::size_t limit);
  // With `expected` (a head kept outside the vault), an older head or another hash at its
  // sequence fails the report.
  Result<AuditVerifyReport> VerifyAudit(const Caller& caller,
                                        const std::optional<AuditHead>& expected = std::nullopt);
  // GET /v1/audit/checkpoints (vault/escrow_checkpoints.cc): admin and auditor (as the audit
  // listing; else forbidden); seq > `after`, at most `limit` (1 to kMaxCheckpointPageLimit,
  // else invalid_request). Audited as an audit read (audit.read, detail "checkpoints").
  Result<CheckpointPage> ListCheckpoints(const Caller& caller, std::uint64_t after,
                                         std::size_t limit);
  // May the caller read metrics? (mdm, admin)
  Status AuthorizeMetrics(const Caller& caller);

  // Apple MDM escrow (vault/escrow_service_certs.cc). The current fleet certificate (mdm,
  // admin); kFailedPrecondition "conflict" if the vault has none (vaultctl escrow-cert create).
  Result<EscrowCertificate> CurrentEscrowCertificate(const Caller& caller);
  // The device's own certificate of the current escrow key (mdm): the one issued before, or a
  // new one (random serial, the device's ID in the subject, signed in the HSM, valid as long as
  // the fleet certificate), recorded with its audit record. device_not_found as GetDevice.
  Result<EscrowCertificate> DeviceEscrowCertificate(const Caller& caller, std::string_view id);
  // Every fleet certificate with its state, by escrow key version (admin, auditor).
  Result<std::vector<EscrowCertificate>> ListEscrowCertificates(const Caller& caller);

  // The overdue sweep (vault/rotation_sweep.cc; API.md "Closing the loop after a key was
  // seen"): every rotation pending longer than options.rotation_deadline is noted once per
  // device and pending rotation, with an audit record rotation_overdue naming the device, and
  // the count of overdue rotations is kept for the gauge. Returns how many it noted now.
  Result<std::size_t> SweepOverdueRotations();
  // The count of overdue rotations at the newest sweep (vault_rotations_overdue); nullopt
  // before the first.
  std::optional<std::int64_t> OverdueRotations() const;
  // Sweeps at once (overdue rotations, then events), then every `interval` on a thread of
  // its own.
  void StartOverdueSweep(std::chrono::milliseconds interval);

  // Events (vault/escrow_events.cc; API.md "Events for owners and security teams").
  // GET /v1/events: admin, auditor and notifier clients (else forbidden); oldest first, id >
  // `after`, at most `limit` (1 to kMaxEventPageLimit, else invalid_request). An admin's or
  // auditor's read is audited (events.read) as the audit listing is. A notifier's `after` is
  // its cursor: stored when it moved forward, with an events.read record in the same commit;
  // a poll that does not move it writes nothing (a relay polls every few seconds).
  Result<EventPage> ListEvents(const Caller& caller, std::uint64_t after, std::size_t limit);
  // vault_events_undelivered_oldest_seconds: the age in seconds of the oldest event after the
  // oldest notifier cursor (of the oldest event if no notifier ever asked); 0 if none.
  Result<std::int64_t> UndeliveredEventsAge();
  // The sweep's part for events: deletes those older than options.event_keep_days in batches
  // (returns how many), then, once a notifier has asked, writes an alert record
  // (events_undelivered) when the oldest undelivered event is options.event_lag_alert old,
  // once per episode (until the lag falls below it again).
  Result<std::size_t> SweepEvents();

  // A limit that several nodes on one database share (API.md "PostgreSQL and several nodes":
  // per-user retrievals): counts one attempt of `counter` at now, in a rolling `window`, and
  // answers the attempts in the window, this one included, with the oldest one's time. The
  // count rides the next group commit (no transaction of its own) and is made under the audit
  // head's lock, so that attempts on several nodes at once never both see room for one.
  // kUnavailable if the database fails.
  Result<storage::QuotaWindow> CountSharedAttempt(std::string_view counter,
                                                  std::chrono::seconds window);

  // Records a refusal decided in api/ (throttling, a malformed id), audited once per principal
  // and window by the caller, with `reason` its API error code. Never fails the request path.
  void RecordSecurityEvent(std::string_view actor, std::string_view role, std::string_view action,
                           std::string_view reason, std::string_view detail);

  // What GET /v1/health answers: with a monitor started, its newest check (never waits for the
  // HSM or the database); without one, a check made in place.
  HealthReport Health();
  // Reads the active master-key version and finds the master and audit keys on the token. No
  // cryptography: however often health is asked, nothing is spent under the master key.
  HealthReport CheckHealth();
  // Checks once now, then every `interval` on a thread of its own.
  void StartHealthMonitor(std::chrono::milliseconds interval = std::chrono::seconds(1));
  // A request met an unavailable HSM or database: the monitor checks again at once (on its
  // own thread; this returns at once).
  void NoteUnavailable();

 private:
  struct Impl;
  EscrowService(hsm::KeyService& keys, storage::Store& store, const Clock& clock,
                EscrowOptions options);
  // One attempt each: StoreKey and Retrieve run them again (a few times) when another node
  // changed the device between the attempt's read and its commit (nothing was written then).
  Result<StoreKeyResult> StoreKeyOnce(const Caller& caller, std::string_view id,
                                      const SecretBytes& key, const SecretBytes* confirm,
                                      const StoreKeyExtras& extras);
  Result<RetrievedKey> RetrieveOnce(const Caller& caller, std::string_view id,
                                    std::string_view reason, std::optional<std::uint32_t> version,
                                    std::optional<std::string_view> access_request);
  std::unique_ptr<Impl> impl_;
};

}  // namespace escrow::vault
