// EscrowService: dual control (API.md, "Dual control (request, approve, retrieve once)"). A
// helpdesk or admin retrieval of a version not recorded under the caller, by a holder of a
// role in [policy] approvals, needs an approved access request: made by the person who will
// retrieve, decided by someone else (an approver or an admin, never the requester), used once
// by the release itself (escrow_keys.cc, in its commit) and only before it expires. Every
// step and every refusal is an audit record; the request's own rows hold no key material.

#include <openssl/rand.h>

#include <array>
#include <mutex>
#include <optional>
#include <string>

#include "base/bytes.h"
#include "vault/approval_mac.h"
#include "vault/escrow_service.h"
#include "vault/escrow_service_impl.h"

namespace escrow::vault {
namespace {

// 128 random bits as 32 lowercase hex digits: an id nobody can guess or enumerate.
Result<std::string> NewRequestId() {
  std::array<std::uint8_t, 16> raw{};
  if (RAND_bytes(raw.data(), static_cast<int>(raw.size())) != 1) {
    return Status::Unavailable("RAND_bytes failed", "unavailable");
  }
  return HexEncode(raw);
}

bool IsRequestId(std::string_view id) {
  return id.size() == 32 &&
         id.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

AccessRequest ToAccessRequest(const storage::AccessRequestRow& row, std::int64_t now_ms) {
  AccessRequest r;
  r.seq = row.seq;
  r.id = row.id;
  r.device_id = row.device_id;
  r.requester = row.requester;
  r.reason = row.reason;
  r.version = row.version;
  r.state = storage::EffectiveState(row, now_ms);
  r.created_at = FromUnixMillis(row.created_ms);
  r.expires_at = FromUnixMillis(row.expires_ms);
  r.approver = row.approver;
  if (row.decided_ms) r.decided_at = FromUnixMillis(*row.decided_ms);
  r.note = row.note;
  if (row.used_ms) r.used_at = FromUnixMillis(*row.used_ms);
  return r;
}

// Reads request `id` and, if found, its device's name and its version's recorded owner into
// `device_name` and `owner` (left empty if gone).
Result<std::optional<storage::AccessRequestRow>> EventFacts(storage::ReadTxn& txn,
                                                            std::string_view id,
                                                            std::string& device_name,
                                                            std::string& owner) {
  ESCROW_ASSIGN_OR_RETURN(std::optional<storage::AccessRequestRow> request,
                          txn.access_requests().Get(id));
  if (!request) return request;
  ESCROW_ASSIGN_OR_RETURN(std::optional<storage::DeviceRow> device,
                          txn.devices().Get(request->device_id));
  if (device) device_name = device->name;
  ESCROW_ASSIGN_OR_RETURN(std::optional<storage::KeyVersionRow> version,
                          txn.versions().Get(request->device_id, request->version));
  if (version) owner = version->owner;
  return request;
}

}  // namespace

Result<AccessRequest> EscrowService::RequestAccess(const Caller& caller, std::string_view id,
                                                   std::string_view reason,
                                                   std::optional<std::uint32_t> version) {
  Impl& m = *impl_;
  constexpr Action kAction = Action::kRequestAccess;
  std::lock_guard lock(m.StripeFor(id));
  const std::int64_t now_ms = ToUnixMillis(m.clock.Now());
  const std::int64_t window_start_ms = now_ms - kQuotaWindowMs;
  const bool may_count = m.options.daily_quota > 0 && caller.kind == Caller::Kind::kUser;
  // The device, the version asked for (or the current one) and the quota, from one snapshot.
  std::optional<storage::KeyVersionRow> target;
  std::optional<storage::QuotaWindow> used;
  Impl::DeviceRead read =
      m.ReadDevice(id, [&](storage::ReadTxn& txn, const storage::DeviceRow& device) -> Status {
        ESCROW_ASSIGN_OR_RETURN(target, version ? txn.versions().Get(id, *version)
                                                : txn.versions().Current(device));
        if (target && target->state == VersionState::kDestroyed) target.reset();
        if (may_count) {
          ESCROW_ASSIGN_OR_RETURN(
              used, txn.limits().GetQuotaWindow(caller.QualifiedName(), window_start_ms));
        }
        return Status::Ok();
      });
  Result<storage::DeviceRow> row = std::move(read.device);
  if (!row.ok()) return m.Deny(caller, kAction, id, row.status());
  const Subject device_subject = SubjectOf(*row);
  if (!CanSee(caller, device_subject)) {
    return m.Deny(caller, kAction, id,
                  Status::NotFound("device not visible to caller", "device_not_found"));
  }
  if (!read.more.ok()) return m.ReadFailed(caller, kAction, id, read.more);
  const Status no_key = Status::NotFound("no recovery key stored", "recovery_key_not_found");
  if (!target) {
    Decision d = Decide(caller, kAction, &device_subject);
    return m.Deny(caller, kAction, id, d.allowed ? no_key : d.denial);
  }
  // Judged as the retrieval it asks for: under the version's recorded owner and ownership.
  const Subject recorded{target->owner, target->ownership};
  Decision d = Decide(caller, kAction, &recorded);
  if (!d.visible) return m.Deny(caller, kAction, id, no_key);
  if (!d.allowed) return m.Deny(caller, kAction, id, d.denial);
  if (!IsValidReason(reason)) {
    return m.Deny(caller, kAction, id,
                  Status::InvalidArgument("A reason (1 to 500 characters) is required.",
                                          "invalid_request"));
  }
  // A request the quota could never let through is refused now (the retrieval counts it).
  if (d.via_role && m.options.daily_quota > 0) {
    if (!used) return Status::Internal("the quota window was not read");
    if (used->count >= m.options.daily_quota) {
      return m.Deny(caller, kAction, id,
                    Status::ResourceExhausted("retrieval quota for 24 hours reached",
                                              SecondsUntilSlotFrees(*used, now_ms),
                                              "rate_limited"));
    }
  }
  ESCROW_ASSIGN_OR_RETURN(const std::string rid, NewRequestId());
  storage::AccessRequestRow request;
  request.id = rid;
  request.device_id = std::string(id);
  request.requester = caller.QualifiedName();
  request.reason = std::string(reason);
  request.version = target->version;
  request.created_ms = now_ms;
  request.expires_ms = now_ms + std::int64_t{m.options.approval_ttl.count()} * 1000;
  Status s = m.pipeline.Commit(
      [&](storage::WriteTxn& txn) -> Status {
        ESCROW_ASSIGN_OR_RETURN(request.seq, txn.access_requests().Insert(request));
        return Status::Ok();
      },
      {WithEvent(m.Event(caller, kAction, id, "ok", std::string(reason),
                         "access_request=" + rid + " version=" + std::to_string(request.version)),
                 MakeEventNote(kEventAccessRequestCreated, row->name, target->owner, reason))});
  if (!s.ok()) return Status::Unavailable(s.message(), "unavailable");
  return ToAccessRequest(request, now_ms);
}

Result<AccessRequestPage> EscrowService::ListAccessRequests(
    const Caller& caller, std::optional<storage::AccessRequestState> state, std::uint64_t after,
    std::size_t limit) {
  Impl& m = *impl_;
  constexpr Action kAction = Action::kListAccessRequests;
  Decision d = Decide(caller, kAction, nullptr);
  if (!d.allowed) return m.Deny(caller, kAction, "", d.denial);
  const std::int64_t now_ms = ToUnixMillis(m.clock.Now());
  // Approvers and admins see every request; helpdesk only their own.
  const std::string me = caller.QualifiedName();
  std::optional<std::string_view> requester;
  if (!d.sees_all) requester = me;
  Result<std::vector<storage::AccessRequestRow>> rows =
      storage::ReadValue(m.store, [&](storage::ReadTxn& txn) {
        // One more than the page: next_after only when another page has something.
        return txn.access_requests().List(state, requester, now_ms, after, limit + 1);
      });
  if (!rows.ok()) return m.ReadFailed(caller, kAction, "", rows.status());
  AccessRequestPage page;
  const bool more = rows->size() > limit;
  if (more) rows->resize(limit);
  for (const storage::AccessRequestRow& row : *rows) {
    page.requests.push_back(ToAccessRequest(row, now_ms));
  }
  if (more) page.next_after = rows->back().seq;
  ESCROW_RETURN_IF_ERROR(m.AuditOk(
      caller, kAction, {},
      "access requests state=" +
          std::string(state ? storage::AccessRequestStateName(*state) : "any") +
          " after=" + std::to_string(after) + " returned=" + std::to_string(page.requests.size())));
  return page;
}

Result<AccessRequest> EscrowService::DecideAccessRequest(const Caller& caller,
                                                         std::string_view request_id,
                                                         bool approve, std::string_view note) {
  Impl& m = *impl_;
  const Action action = approve ? Action::kApproveAccessRequest : Action::kDenyAccessRequest;
  const std::string said = "access_request=\"" + std::string(request_id.substr(0, 64)) + "\"";
  Decision d = Decide(caller, action, nullptr);
  if (!d.allowed) return m.Deny(caller, action, "", d.denial, said + " " + d.denial.message());
  const Status not_found = Status::NotFound("no such access request", "access_request_not_found");
  // Only an id the vault could have made is looked up (32 lowercase hex digits).
  if (!IsRequestId(request_id)) return m.Deny(caller, action, "", not_found, said + " malformed");
  // The request, and for its event the device's name and the version's recorded owner.
  std::string device_name;
  std::string version_owner;
  Result<std::optional<storage::AccessRequestRow>> read =
      storage::ReadValue(m.store, [&](storage::ReadTxn& txn) {
        return EventFacts(txn, request_id, device_name, version_owner);
      });
  if (!read.ok()) return m.ReadFailed(caller, action, "", read.status());
  if (!*read) return m.Deny(caller, action, "", not_found, said + " not found");
  storage::AccessRequestRow request = std::move(**read);
  const std::string& device = request.device_id;
  const std::string detail = "access_request=" + request.id;
  if (request.requester == caller.QualifiedName()) {
    return m.Deny(caller, action, device,
                  Status::PermissionDenied(
                      "An access request can't be approved by the person who made it.",
                      "self_approval"),
                  detail + " self_approval");
  }
  if (!note.empty() && !IsPlainText(note, 500)) {
    return m.Deny(caller, action, device,
                  Status::InvalidArgument("note must be at most 500 characters without "
                                          "control characters.",
                                          "invalid_request"),
                  detail + " invalid note");
  }
  const std::int64_t now_ms = ToUnixMillis(m.clock.Now());
  const Status not_usable = Status::FailedPrecondition("the access request is not pending",
                                                       "access_request_not_usable");
  const storage::AccessRequestState seen = storage::EffectiveState(request, now_ms);
  if (seen != storage::AccessRequestState::kPending) {
    return m.Deny(caller, action, device, not_usable,
                  detail + " state=" + std::string(storage::AccessRequestStateName(seen)));
  }
  const storage::AccessRequestState to =
      approve ? storage::AccessRequestState::kApproved : storage::AccessRequestState::kDenied;
  request.approver = caller.QualifiedName();
  request.decided_ms = now_ms;
  request.note = std::string(note);
  if (approve) {
    // Made in the HSM: without this MAC no release uses the approval (a database writer
    // can't approve a request by editing its row).
    Status sealed = SealApproval(m.keys, m.options.state_key_version, request);
    if (!sealed.ok()) {
      return m.Deny(caller, action, device, sealed, detail + " approval MAC not made");
    }
  }
  storage::AccessDecision decision{to, *request.approver, *request.note, now_ms,
                                   request.approval_mac, request.approval_key_version};
  // One conditional update: of racing decisions (or a decision racing the expiry) one wins.
  Status s = m.pipeline.Commit(
      [&](storage::WriteTxn& txn) -> Status {
        ESCROW_ASSIGN_OR_RETURN(const bool decided,
                                txn.access_requests().Decide(request.id, decision));
        return decided ? Status::Ok() : not_usable;
      },
      {WithEvent(m.Event(caller, action, device, "ok", std::string(note),
                         detail + " requester=" + request.requester),
                 MakeEventNote(approve ? kEventAccessRequestApproved : kEventAccessRequestDenied,
                               device_name, version_owner, note))});
  if (!s.ok()) {
    if (s.reason() == not_usable.reason()) {
      return m.Deny(caller, action, device, not_usable, detail + " decided by a racing call");
    }
    return Status::Unavailable(s.message(), "unavailable");
  }
  request.state = to;
  return ToAccessRequest(request, now_ms);
}

}  // namespace escrow::vault
