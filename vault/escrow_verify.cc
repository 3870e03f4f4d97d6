// EscrowService: checking a key without releasing it (API.md, "Checking a key without
// releasing it").

#include <algorithm>
#include <optional>
#include <string>

#include "vault/device_state.h"
#include "vault/escrow_service.h"
#include "vault/escrow_service_impl.h"
#include "vault/fingerprint.h"
#include "vault/key_format.h"

namespace escrow::vault {
namespace {

// The key under which a device's verify mismatches are counted in the limits table: never a
// principal's name ("user:", "client:", "operator:"), so never anyone's quota.
std::string MismatchCounter(std::string_view device_id) {
  return "verify-mismatch:" + std::string(device_id);
}

}  // namespace

Result<VerifyResult> EscrowService::VerifyKey(const Caller& caller, std::string_view id,
                                              const SecretBytes& key,
                                              std::optional<std::uint32_t> version) {
  Impl& m = *impl_;
  constexpr Action kAction = Action::kVerifyKey;
  // Every refusal keeps the version asked for; never the key.
  auto deny = [&](Status status, std::string detail = {}) {
    std::string what = detail.empty() ? status.message() : std::move(detail);
    std::string asked = version ? "asked version=" + std::to_string(*version) + "; " : "";
    return m.Deny(caller, kAction, id, std::move(status), asked + what);
  };
  std::lock_guard lock(m.StripeFor(id));
  const std::int64_t now_ms = ToUnixMillis(m.clock.Now());
  const RateLimit& limit = m.options.verify_mismatches;
  const std::int64_t window_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(limit.window).count();
  const std::string counter = MismatchCounter(id);
  // Everything from one snapshot: the device, its current version, the version asked for, its
  // state record and the device's mismatches in the window.
  std::optional<storage::KeyVersionRow> current;
  std::optional<storage::KeyVersionRow> asked;
  storage::QuotaWindow mismatches;
  Result<StateEvidence> evidence = Status::NotFound("not read");
  Impl::DeviceRead read =
      m.ReadDevice(id, [&](storage::ReadTxn& txn, const storage::DeviceRow& device) -> Status {
        evidence = ReadStateEvidence(txn.states(), txn.audit(), id);
        ESCROW_ASSIGN_OR_RETURN(current, txn.versions().Current(device));
        if (version && !(current && current->version == *version)) {
          ESCROW_ASSIGN_OR_RETURN(asked, txn.versions().Get(id, *version));
        }
        if (limit.enabled()) {
          ESCROW_ASSIGN_OR_RETURN(mismatches,
                                  txn.limits().GetQuotaWindow(counter, now_ms - window_ms));
        }
        return Status::Ok();
      });
  // 404 for the device, 403 (helpdesk, admin and auditor may not verify).
  Result<storage::DeviceRow> row = m.Authorize(caller, kAction, id, std::move(read.device));
  if (!row.ok()) return row.status();
  // 400: the key's format for the device's platform.
  Result<SecretBytes> normal = NormalizeRecoveryKey(row->platform, key);
  if (!normal.ok()) return deny(normal.status());
  if (!read.more.ok()) return m.ReadFailed(caller, kAction, id, read.more);
  // 429: the device's mismatches, whoever made them, so that guesses spread over many callers
  // still meet one bound.
  if (limit.enabled() && mismatches.count >= limit.count) {
    const std::int64_t oldest_ms = std::min(mismatches.oldest_ms.value_or(now_ms), now_ms);
    const std::int64_t wait_s =
        std::max<std::int64_t>(1, (oldest_ms + window_ms - now_ms + 999) / 1000);
    return deny(Status::ResourceExhausted("too many verify mismatches for this device", wait_s,
                                          "rate_limited"),
                "alert: verify mismatches for this device exceeded " + std::to_string(limit.count) +
                    " in " + std::to_string(limit.window.count()) + " s");
  }
  // The version to compare with: the owner only the current one recorded under them; the mdm
  // any that is not destroyed.
  const bool as_mdm = caller.kind == Caller::Kind::kMdm;
  const bool wants_current = !version || (current && current->version == *version);
  const storage::KeyVersionRow* target = nullptr;
  if (wants_current) {
    if (current && (as_mdm || current->owner == caller.user)) target = &*current;
  } else if (as_mdm && asked && asked->state != VersionState::kDestroyed) {
    target = &*asked;
  }
  if (target == nullptr) {
    return deny(Status::NotFound("no recovery key stored", "recovery_key_not_found"));
  }
  // Which version is current comes from the state record, not from the rows alone: a database
  // writer must not make an old key answer for the current one.
  Result<storage::DeviceStateRow> state = m.TrustedState(id, evidence, *row, current);
  if (!state.ok()) return deny(state.status());
  const std::uint32_t checked = target->version;
  if (!target->fingerprint) {
    return deny(Status::DataLoss("version " + std::to_string(checked) + " has no fingerprint",
                                 "integrity_error"));
  }
  // One HMAC in the HSM, under the fingerprint key the version names; never a decrypt.
  Result<Bytes> fingerprint =
      Fingerprint(m.keys, target->fingerprint_key_version, target->kind, id, *normal);
  if (!fingerprint.ok()) {
    if (fingerprint.status().code() == Code::kNotFound) {
      return deny(Status::DataLoss(
          "version " + std::to_string(checked) + " names a fingerprint key the token lacks",
          "integrity_error"));
    }
    return deny(
        Status::Unavailable("fingerprint: " + fingerprint.status().message(), "unavailable"));
  }
  const bool matches = ConstantTimeEquals(*target->fingerprint, *fingerprint);
  const bool is_current = current && target == &*current;
  const bool fills_limit = !matches && limit.enabled() && mismatches.count + 1 >= limit.count;
  std::string detail = "version=" + std::to_string(checked) + (matches ? " matches" : " mismatch");
  if (fills_limit) detail += "; alert: verify mismatches for this device reached the limit";
  Status s = m.pipeline.Commit(
      [&](storage::WriteTxn& txn) -> Status {
        if (matches && is_current) return txn.versions().SetVerified(id, checked, now_ms);
        if (!matches && limit.enabled()) {
          Result<storage::QuotaWindow> counted =
              txn.limits().AddQuotaEvent(counter, now_ms, now_ms - window_ms);
          if (!counted.ok()) return counted.status();
        }
        return Status::Ok();
      },
      {m.Event(caller, kAction, id, "ok", {}, std::move(detail))});
  if (!s.ok()) return Status::Unavailable(s.message(), "unavailable");
  return VerifyResult{matches, checked};
}

}  // namespace escrow::vault
