// EscrowService: what the mdm needs for RotateFileVaultKey (API.md, POST
// .../recovery-key/rotation-command). Apple's command carries the device's current personal
// recovery key (so the Mac can unlock its FileVault to make a new one) and a certificate to
// encrypt the new key to. Handing the current key to the mdm is a release like any other:
// decided, audited before it leaves, the version burned. It is bounded more tightly than a
// person's retrieval, because an mdm certificate is a machine's and could be stolen: off
// unless configured, corporate Macs only, only while a rotation is pending and once per
// pending rotation (the state record says so, under its MAC), never for a rotation the mdm
// caused itself (an owner, ownership or platform change: a person must ask for it), and a
// daily cap for all mdm clients together. The reply certificate is the device's own, so the rotated key can only be
// stored for that device.

#include <algorithm>
#include <mutex>
#include <optional>
#include <string>

#include "vault/device_state.h"
#include "vault/escrow_service.h"
#include "vault/escrow_service_impl.h"

namespace escrow::vault {
namespace {

// The key under which rotation commands are counted in the limits table: never a
// principal's name ("user:", "client:", "operator:"), so never anyone's quota.
constexpr std::string_view kCommandCounter = "rotation-commands";
constexpr std::int64_t kDayMs = std::int64_t{24} * 3600 * 1000;

}  // namespace

Result<RotationCommand> EscrowService::IssueRotationCommand(const Caller& caller,
                                                            std::string_view id) {
  Impl& m = *impl_;
  constexpr Action kAction = Action::kRotationCommand;
  // Who may, before anything about the device: the mdm, and only where the command is on.
  if (Decision d = Decide(caller, kAction, nullptr); !d.allowed) {
    return m.Deny(caller, kAction, id, d.denial);
  }
  if (!m.options.mdm_rotation_command) {
    return m.Deny(caller, kAction, id,
                  Status::PermissionDenied("The rotation command is off "
                                           "([policy] mdm_rotation_command).",
                                           "forbidden"));
  }
  std::lock_guard lock(m.StripeFor(id));
  const std::int64_t now_ms = ToUnixMillis(m.clock.Now());
  const int cap = std::max(1, m.options.mdm_rotation_commands_per_day);
  // Everything from one snapshot: the device, its current version, its state record and the
  // commands of the last 24 hours.
  std::optional<storage::KeyVersionRow> current;
  storage::QuotaWindow sent;
  Result<StateEvidence> evidence = Status::NotFound("not read");
  Impl::DeviceRead read =
      m.ReadDevice(id, [&](storage::ReadTxn& txn, const storage::DeviceRow& device) -> Status {
        evidence = ReadStateEvidence(txn.states(), txn.audit(), id);
        ESCROW_ASSIGN_OR_RETURN(current, txn.versions().Current(device));
        if (cap > 0) {
          ESCROW_ASSIGN_OR_RETURN(sent,
                                  txn.limits().GetQuotaWindow(kCommandCounter, now_ms - kDayMs));
        }
        return Status::Ok();
      });
  // The mdm sees every device; the ownership that counts is the current version's (below).
  Result<storage::DeviceRow> row = std::move(read.device);
  if (!row.ok()) return m.Deny(caller, kAction, id, row.status());
  if (!read.more.ok()) return m.ReadFailed(caller, kAction, id, read.more);
  if (row->platform != Platform::kMacos) {
    return m.Deny(caller, kAction, id,
                  Status::InvalidArgument("RotateFileVaultKey is for macOS devices only.",
                                          "invalid_request"));
  }
  if (!current) {
    return m.Deny(caller, kAction, id,
                  Status::NotFound("no recovery key stored", "recovery_key_not_found"));
  }
  // Judged by the owner and ownership the current version was stored with, as every release.
  const Subject recorded{current->owner, current->ownership};
  if (Decision d = Decide(caller, kAction, &recorded); !d.allowed) {
    return m.Deny(caller, kAction, id, d.denial);
  }
  Result<storage::DeviceStateRow> state = m.TrustedState(id, evidence, *row, current);
  if (!state.ok()) return m.Deny(caller, kAction, id, state.status());
  if (!state->rotation_pending || state->rotation_command_sent) {
    return m.Deny(caller, kAction, id,
                  Status::FailedPrecondition(
                      state->rotation_pending
                          ? "the command was sent, or the mdm caused this rotation itself"
                          : "no rotation is pending",
                      "rotation_not_pending"));
  }
  auto over_cap = [&](const storage::QuotaWindow& window) {
    const std::int64_t oldest = std::min(window.oldest_ms.value_or(now_ms), now_ms);
    const std::int64_t wait_s = std::max<std::int64_t>(1, (oldest + kDayMs - now_ms + 999) / 1000);
    return Status::ResourceExhausted("rotation commands for 24 hours reached", wait_s,
                                     "rate_limited");
  };
  const std::string alert = "alert: daily rotation-command cap reached";
  if (sent.count >= cap) return m.Deny(caller, kAction, id, over_cap(sent), alert);
  if (!current->fingerprint) {
    return m.Deny(caller, kAction, id,
                  Status::DataLoss("version " + std::to_string(current->version) +
                                       " has no fingerprint",
                                   "integrity_error"));
  }

  // The reply certificate first: without one (no current escrow certificate, or it expired),
  // nothing is released.
  Result<storage::EscrowCertRow> reply = m.DeviceCertificate(caller, id);
  if (!reply.ok()) return m.Deny(caller, kAction, id, reply.status(), "no reply certificate");
  Result<SecretBytes> plain = m.Open(*current);
  if (!plain.ok()) {
    return m.Deny(caller, kAction, id, plain.status(),
                  "version=" + std::to_string(current->version));
  }
  const std::uint64_t read_seq = state->audit_seq;
  storage::DeviceStateRow next = std::move(*state);
  Burn(next, *current->fingerprint);
  next.rotation_command_sent = true;
  const std::uint32_t released = current->version;
  // Fail closed: the key leaves only after this record is durable.
  Status s = m.pipeline.Commit(
      [&](storage::WriteTxn& txn) -> Status {
        // Once, on every node: the state record this request read must still be the device's
        // (the stripe lock is one process's), so two commands never both pass.
        ESCROW_ASSIGN_OR_RETURN(std::optional<storage::DeviceStateRow> now_state,
                                txn.states().Get(id));
        if (!now_state || now_state->audit_seq != read_seq) {
          return Status::FailedPrecondition("the device changed while the command was decided",
                                            "rotation_not_pending");
        }
        // Counted again under the write lock: concurrent commands may all have passed above.
        ESCROW_ASSIGN_OR_RETURN(
            storage::QuotaWindow counted,
            txn.limits().AddQuotaEvent(kCommandCounter, now_ms, now_ms - kDayMs));
        if (counted.count > cap) return over_cap(counted);
        return txn.versions().SetBurned(id, released);
      },
      {WithEvent(m.Event(caller, kAction, id, "ok", {},
                         "version=" + std::to_string(released) + " reply_serial=" + reply->serial),
                 MakeEventNote(kEventKeyRetrieved, row->name, current->owner, {}, false))},
      m.WriteState(std::move(next)), /*releases_key=*/true);
  if (!s.ok()) {
    if (s.code() == Code::kResourceExhausted) return m.Deny(caller, kAction, id, s, alert);
    if (s.reason() == "rotation_not_pending") return m.Deny(caller, kAction, id, s);
    return Status::Unavailable(s.message(), "unavailable");
  }
  return RotationCommand{std::move(*plain), released, std::move(reply->der)};
}

}  // namespace escrow::vault
