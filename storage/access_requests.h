#pragma once

// Dual control (API.md, "Dual control (request, approve, retrieve once)"): requests to view a
// recovery key, and their approvals. Only metadata: no key material. vault/ decides who may
// request, decide and use a request; the store makes each decision and each use a conditional
// update, so that two racing callers cannot both win.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/bytes.h"
#include "base/result.h"

namespace escrow::storage {

// expired is stored only by vault/'s choice; a pending or approved row whose expires_ms has
// passed reads as expired everywhere (EffectiveState), so it never needs a write to expire.
enum class AccessRequestState { kPending, kApproved, kDenied, kExpired, kUsed };

struct AccessRequestRow {
  std::uint64_t seq = 0;  // assigned by Insert: the listing's order and its `after` cursor
  std::string id;         // 32 lowercase hex digits (128 random bits); unique
  std::string device_id;
  std::string requester;  // the kind-qualified principal ("user:hd")
  std::string reason;
  std::uint32_t version = 0;
  AccessRequestState state = AccessRequestState::kPending;
  std::int64_t created_ms = 0;
  std::int64_t expires_ms = 0;
  std::optional<std::string> approver;  // qualified principal of whoever decided
  std::optional<std::int64_t> decided_ms;
  std::optional<std::string> note;
  std::optional<std::int64_t> used_ms;
  // Approved and used rows: the approval's MAC, made in the HSM under escrow-state-v<N>
  // (vault/approval_mac.h), so that a database writer cannot forge an approval. Empty for
  // the rest, and for rows approved before migration 15 (never usable).
  Bytes approval_mac;
  std::uint32_t approval_key_version = 0;
};

// A decision on a pending request, written by one conditional update.
struct AccessDecision {
  AccessRequestState to = AccessRequestState::kDenied;  // approved or denied
  std::string approver;  // qualified principal of whoever decided
  std::string note;
  std::int64_t decided_ms = 0;
  Bytes approval_mac;  // approved: the approval's MAC; denied: empty
  std::uint32_t approval_key_version = 0;
};

// The state a row shows at `now_ms`: pending and approved rows past expires_ms are expired.
AccessRequestState EffectiveState(const AccessRequestRow& row, std::int64_t now_ms);

// Read inside one transaction (txn.h gives the errors every method may also return).
// Not thread-safe: it belongs to its transaction.
class AccessRequestReader {
 public:
  virtual ~AccessRequestReader() = default;
  // One request by id; nullopt if none.
  virtual Result<std::optional<AccessRequestRow>> Get(std::string_view id) = 0;
  // Oldest first, seq > `after`, at most `limit` rows; only `requester`'s if given; only
  // those whose EffectiveState at `now_ms` is `state` if given.
  virtual Result<std::vector<AccessRequestRow>> List(std::optional<AccessRequestState> state,
                                                     std::optional<std::string_view> requester,
                                                     std::int64_t now_ms, std::uint64_t after,
                                                     std::size_t limit) = 0;

 protected:
  // Copied or moved only as a concrete store, never sliced through this interface.
  AccessRequestReader() = default;
  AccessRequestReader(const AccessRequestReader&) = default;
  AccessRequestReader& operator=(const AccessRequestReader&) = default;
  AccessRequestReader(AccessRequestReader&&) = default;
  AccessRequestReader& operator=(AccessRequestReader&&) = default;
};

// The requests inside a write transaction; its reads see the transaction's own writes.
class AccessRequestWriter : public AccessRequestReader {
 public:
  // Inserts a pending request and returns its seq. kAlreadyExists for a known id;
  // kFailedPrecondition for an unknown device; kInvalidArgument for a field that breaks the
  // schema (id not 32 lowercase hex, state not pending, expires_ms <= created_ms).
  virtual Result<std::uint64_t> Insert(const AccessRequestRow& row) = 0;
  // pending -> approved or denied, only if pending and unexpired at decision.decided_ms (one
  // conditional update): true if it changed, false if not (unknown, decided, expired).
  // kInvalidArgument unless `to` is approved (with a MAC) or denied (without).
  virtual Result<bool> Decide(std::string_view id, const AccessDecision& decision) = 0;
  // approved -> used, only if the row is still `approved` as read (its id, device, requester,
  // version and approval MAC) and unexpired at `now_ms` (one conditional update, so a request
  // is used once whatever races it): true if it changed, false if not.
  virtual Result<bool> Use(const AccessRequestRow& approved, std::int64_t now_ms) = 0;
};

// The names of the states, stored and shown in the API, and back (nullopt if not ours).
std::string_view AccessRequestStateName(AccessRequestState state);
std::optional<AccessRequestState> ParseAccessRequestState(std::string_view text);

}  // namespace escrow::storage
