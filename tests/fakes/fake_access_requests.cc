// FakeAccessRequests (tests/fakes/fake_tables.h): the access_requests table in memory, with the
// Status order SQLite gives (CHECK, then unique keys, then foreign keys).
#include <algorithm>

#include "tests/fakes/fake_tables.h"

namespace escrow::testing {
namespace {

bool LowerHex32(std::string_view text) {
  return text.size() == 32 && std::all_of(text.begin(), text.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

}  // namespace

storage::AccessRequestRow* FakeAccessRequests::Find(std::string_view id) {
  for (auto& [seq, row] : state_.access_requests) {
    if (row.id == id) return &row;
  }
  return nullptr;
}

Result<std::optional<storage::AccessRequestRow>> FakeAccessRequests::Get(std::string_view id) {
  const storage::AccessRequestRow* row = Find(id);
  if (row == nullptr) return std::optional<storage::AccessRequestRow>();
  return std::optional<storage::AccessRequestRow>(*row);
}

Result<std::vector<storage::AccessRequestRow>> FakeAccessRequests::List(
    std::optional<storage::AccessRequestState> state, std::optional<std::string_view> requester,
    std::int64_t now_ms, std::uint64_t after, std::size_t limit) {
  std::vector<storage::AccessRequestRow> rows;
  for (auto it = state_.access_requests.upper_bound(after);
       it != state_.access_requests.end() && rows.size() < limit; ++it) {
    const storage::AccessRequestRow& row = it->second;
    if (requester && row.requester != *requester) continue;
    if (state && storage::EffectiveState(row, now_ms) != *state) continue;
    rows.push_back(row);
  }
  return rows;
}

Result<std::uint64_t> FakeAccessRequests::Insert(const storage::AccessRequestRow& row) {
  if (row.state != storage::AccessRequestState::kPending) {
    return Status::InvalidArgument("insert access request: only a pending request");
  }
  if (!LowerHex32(row.id) || row.requester.empty() || row.version == 0 ||
      row.expires_ms <= row.created_ms) {
    return Status::InvalidArgument("insert access request: check");
  }
  if (Find(row.id) != nullptr) return Status::AlreadyExists("insert access request: unique");
  if (!state_.devices.contains(row.device_id)) {
    return Status::FailedPrecondition("insert access request: foreign key");
  }
  const std::uint64_t seq = ++state_.access_request_seq;
  storage::AccessRequestRow stored = row;
  stored.seq = seq;
  stored.approver.reset();
  stored.decided_ms.reset();
  stored.note.reset();
  stored.used_ms.reset();
  stored.approval_mac.clear();
  stored.approval_key_version = 0;
  state_.access_requests.emplace(seq, std::move(stored));
  return seq;
}

Result<bool> FakeAccessRequests::Decide(std::string_view id,
                                        const storage::AccessDecision& decision) {
  const bool approve = decision.to == storage::AccessRequestState::kApproved;
  if ((!approve && decision.to != storage::AccessRequestState::kDenied) ||
      approve == decision.approval_mac.empty()) {
    return Status::InvalidArgument(
        "decide access request: approved with a MAC, or denied without one");
  }
  storage::AccessRequestRow* row = Find(id);
  if (row == nullptr || row->state != storage::AccessRequestState::kPending ||
      row->expires_ms <= decision.decided_ms) {
    return false;
  }
  row->state = decision.to;
  row->approver = decision.approver;
  row->note = decision.note;
  row->decided_ms = decision.decided_ms;
  row->approval_mac = decision.approval_mac;
  row->approval_key_version = decision.approval_key_version;
  return true;
}

Result<bool> FakeAccessRequests::Use(const storage::AccessRequestRow& approved,
                                     std::int64_t now_ms) {
  storage::AccessRequestRow* row = Find(approved.id);
  if (row == nullptr || row->state != storage::AccessRequestState::kApproved ||
      row->expires_ms <= now_ms || approved.approval_mac.empty() ||
      row->device_id != approved.device_id || row->requester != approved.requester ||
      row->version != approved.version || row->approval_mac != approved.approval_mac) {
    return false;
  }
  row->state = storage::AccessRequestState::kUsed;
  row->used_ms = now_ms;
  return true;
}

}  // namespace escrow::testing
