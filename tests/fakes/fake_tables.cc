#include "tests/fakes/fake_tables.h"

#include <algorithm>
#include <string>

namespace escrow::testing {
namespace {

using storage::AuditRow;
using storage::DeviceRow;
using storage::KeyVersionRow;
using storage::QuotaWindow;

// What SQLite's schema refuses (a CHECK) or its binders do (an enum that is not ours), named
// after the statement as SQLite's messages are.
Status Refused(std::string_view statement, std::string_view why) {
  return Status::InvalidArgument(std::string(statement) + ": " + std::string(why));
}

bool Known(storage::Platform p) {
  return storage::ParsePlatform(storage::PlatformName(p)).has_value();
}
bool Known(storage::Ownership o) {
  return storage::ParseOwnership(storage::OwnershipName(o)).has_value();
}
bool Known(storage::VersionState s) {
  return storage::ParseVersionState(storage::VersionStateName(s)).has_value();
}
bool Known(const std::optional<storage::PrincipalKind>& k) {  // NULL is allowed
  return !k || storage::ParsePrincipalKind(storage::PrincipalKindName(*k)).has_value();
}

// A page in id order, as the SQLite store's index ranges give it.
std::vector<DeviceRow> DevicesWhere(const FakeState& state,
                                    bool (*match)(const DeviceRow&, std::string_view),
                                    std::string_view value, std::optional<std::string_view> after,
                                    std::size_t limit) {
  std::vector<DeviceRow> rows;
  auto it = after ? state.devices.upper_bound(*after) : state.devices.begin();
  for (; it != state.devices.end() && rows.size() < limit; ++it) {
    if (match(it->second, value)) rows.push_back(it->second);
  }
  return rows;
}

QuotaWindow WindowOf(const FakeState& state, std::string_view principal, std::int64_t since_ms) {
  QuotaWindow window;
  auto events = state.quota_events.find(principal);
  if (events == state.quota_events.end()) return window;
  for (auto it = events->second.upper_bound(since_ms); it != events->second.end(); ++it) {
    if (!window.oldest_ms) window.oldest_ms = *it;
    ++window.count;
  }
  return window;
}

}  // namespace

// ---- devices ----------------------------------------------------------------------------

Result<std::optional<DeviceRow>> FakeDevices::Get(std::string_view id) {
  auto it = state_.devices.find(id);
  if (it == state_.devices.end()) return std::optional<DeviceRow>();
  return std::optional<DeviceRow>(it->second);
}

Result<std::vector<DeviceRow>> FakeDevices::ListByOwner(std::string_view owner,
                                                        std::optional<std::string_view> after,
                                                        std::size_t limit) {
  return DevicesWhere(
      state_, [](const DeviceRow& row, std::string_view v) { return row.owner == v; }, owner, after,
      limit);
}

Result<std::vector<DeviceRow>> FakeDevices::ListBySerial(std::string_view serial,
                                                         std::optional<std::string_view> after,
                                                         std::size_t limit) {
  return DevicesWhere(
      state_, [](const DeviceRow& row, std::string_view v) { return row.serial == v; }, serial,
      after, limit);
}

Result<std::vector<DeviceRow>> FakeDevices::ListByKeyId(std::string_view key_id, bool prefix,
                                                        std::optional<std::string_view> owner,
                                                        std::optional<std::string_view> after,
                                                        std::size_t limit) {
  std::vector<DeviceRow> rows;
  for (const auto& [id, row] : state_.devices) {
    if (rows.size() >= limit) break;
    if (after && id <= *after) continue;
    if (owner && row.owner != *owner) continue;
    for (auto it = state_.versions.lower_bound({id, 0});
         it != state_.versions.end() && it->first.first == id; ++it) {
      const KeyVersionRow& v = it->second;
      if (!v.key_id || v.state == storage::VersionState::kDestroyed) continue;
      if (owner && v.owner != *owner) continue;
      const bool match = prefix ? v.key_id->starts_with(key_id) : *v.key_id == key_id;
      if (match) {
        rows.push_back(row);
        break;
      }
    }
  }
  return rows;
}

Result<std::vector<DeviceRow>> FakeDevices::ListAll(std::size_t limit) {
  std::vector<DeviceRow> rows;
  for (const auto& [id, row] : state_.devices) {
    if (rows.size() >= limit) break;
    rows.push_back(row);
  }
  return rows;
}

Status FakeDevices::Upsert(const DeviceRow& row) {
  constexpr std::string_view kStatement = "upsert device";
  if (!Known(row.platform)) return Refused(kStatement, "unknown platform");
  if (!Known(row.ownership)) return Refused(kStatement, "unknown ownership");
  if (row.id.empty()) return Refused(kStatement, "check");
  auto it = state_.devices.find(row.id);
  if (it == state_.devices.end()) {
    state_.devices.emplace(row.id, row);
    return Status::Ok();
  }
  const std::int64_t created_ms = it->second.created_ms;
  it->second = row;
  it->second.created_ms = created_ms;
  return Status::Ok();
}

Result<std::vector<DeviceRow>> FakeDevices::ListRotationOverdue(
    std::int64_t since_ms, std::optional<std::string_view> after, std::size_t limit) {
  std::vector<DeviceRow> rows;
  for (const auto& [id, row] : state_.devices) {
    if (rows.size() >= limit) break;
    if (after && id <= *after) continue;
    if (row.rotation_pending && row.rotation_requested_ms && *row.rotation_requested_ms <= since_ms) {
      rows.push_back(row);
    }
  }
  return rows;
}

Result<std::int64_t> FakeDevices::CountRotationOverdue(std::int64_t since_ms) {
  Result<std::vector<DeviceRow>> all =
      ListRotationOverdue(since_ms, std::nullopt, state_.devices.size());
  if (!all.ok()) return all.status();
  return static_cast<std::int64_t>(all->size());
}

Result<std::vector<DeviceRow>> FakeDevices::ListOverdueUnnoted(std::int64_t since_ms,
                                                               std::size_t limit) {
  Result<std::vector<DeviceRow>> rows =
      ListRotationOverdue(since_ms, std::nullopt, state_.devices.size());
  if (!rows.ok()) return rows.status();
  std::erase_if(*rows, [](const DeviceRow& r) { return r.rotation_overdue_noted; });
  std::stable_sort(rows->begin(), rows->end(), [](const DeviceRow& a, const DeviceRow& b) {
    return *a.rotation_requested_ms < *b.rotation_requested_ms;
  });
  if (rows->size() > limit) rows->resize(limit);
  return rows;
}

Status FakeDevices::SetRotationPending(std::string_view device_id, bool pending,
                                       std::int64_t now_ms) {
  auto it = state_.devices.find(device_id);
  if (it == state_.devices.end()) return Status::NotFound("device not found");
  DeviceRow& row = it->second;
  if (!pending) {
    row.rotation_requested_ms.reset();
    row.rotation_overdue_noted = false;
  } else if (!row.rotation_pending) {
    row.rotation_requested_ms = now_ms;
  }
  row.rotation_pending = pending;
  return Status::Ok();
}

Status FakeDevices::NoteRotationOverdue(std::string_view device_id, std::int64_t requested_ms) {
  auto it = state_.devices.find(device_id);
  if (it == state_.devices.end() || !it->second.rotation_pending ||
      it->second.rotation_overdue_noted || it->second.rotation_requested_ms != requested_ms) {
    return Status::FailedPrecondition("the device's overdue rotation changed or was noted");
  }
  it->second.rotation_overdue_noted = true;
  return Status::Ok();
}

Status FakeDevices::SetCheckin(std::string_view device_id, std::int64_t when_ms) {
  auto it = state_.devices.find(device_id);
  if (it == state_.devices.end()) return Status::NotFound("device not found");
  it->second.last_checkin_ms = when_ms;
  return Status::Ok();
}

// ---- key versions -----------------------------------------------------------------------

KeyVersionRow* FakeKeyVersions::Find(std::string_view device_id, std::uint32_t version) {
  auto it = state_.versions.find({std::string(device_id), version});
  return it == state_.versions.end() ? nullptr : &it->second;
}

Result<std::optional<KeyVersionRow>> FakeKeyVersions::Get(std::string_view device_id,
                                                          std::uint32_t version) {
  const KeyVersionRow* row = Find(device_id, version);
  if (row == nullptr) return std::optional<KeyVersionRow>();
  return std::optional<KeyVersionRow>(*row);
}

Result<std::vector<KeyVersionRow>> FakeKeyVersions::List(std::string_view device_id) {
  std::vector<KeyVersionRow> rows;
  for (auto it = state_.versions.lower_bound({std::string(device_id), 0});
       it != state_.versions.end() && it->first.first == device_id; ++it) {
    rows.push_back(it->second);
  }
  return rows;
}

Result<std::optional<KeyVersionRow>> FakeKeyVersions::Current(const DeviceRow& device) {
  constexpr std::string_view kStatement = "get current key version";
  if (!Known(device.platform)) return Refused(kStatement, "unknown platform");
  ESCROW_ASSIGN_OR_RETURN(std::vector<KeyVersionRow> rows, List(device.id));
  for (auto it = rows.rbegin(); it != rows.rend(); ++it) {
    if (it->state == storage::VersionState::kActive && it->kind == device.platform &&
        it->owner == device.owner) {
      return std::optional<KeyVersionRow>(*it);
    }
  }
  return std::optional<KeyVersionRow>();
}

Result<std::uint32_t> FakeKeyVersions::LatestNumber(std::string_view device_id) {
  ESCROW_ASSIGN_OR_RETURN(std::vector<KeyVersionRow> rows, List(device_id));
  return rows.empty() ? 0u : rows.back().version;
}

Result<std::vector<KeyVersionRow>> FakeKeyVersions::ListBurned(std::string_view device_id) {
  ESCROW_ASSIGN_OR_RETURN(std::vector<KeyVersionRow> rows, List(device_id));
  std::erase_if(rows, [](const KeyVersionRow& row) {
    return !row.burned || row.state == storage::VersionState::kDestroyed;
  });
  return rows;
}

Result<std::vector<KeyVersionRow>> FakeKeyVersions::ListSealedUnder(
    std::uint32_t master_key_version, std::size_t limit,
    const std::optional<storage::KeyVersionKey>& after) {
  std::vector<KeyVersionRow> rows;
  for (const auto& [key, row] : state_.versions) {
    if (rows.size() >= limit) break;
    if (row.master_key_version != master_key_version) continue;
    if (after && key <= std::make_pair(after->device_id, after->version)) continue;
    rows.push_back(row);
  }
  return rows;
}

Result<std::vector<KeyVersionRow>> FakeKeyVersions::ListUnfingerprinted(
    std::size_t limit, const std::optional<storage::KeyVersionKey>& after) {
  std::vector<KeyVersionRow> rows;
  for (const auto& [key, row] : state_.versions) {
    if (rows.size() >= limit) break;
    if (row.fingerprint) continue;
    if (after && key <= std::make_pair(after->device_id, after->version)) continue;
    rows.push_back(row);
  }
  return rows;
}

Result<std::vector<std::pair<std::uint32_t, std::int64_t>>> FakeKeyVersions::CountByMasterKey() {
  std::map<std::uint32_t, std::int64_t> counts;
  for (const auto& [key, row] : state_.versions) {
    if (row.master_key_version > 0) ++counts[row.master_key_version];  // 0: destroyed
  }
  return std::vector<std::pair<std::uint32_t, std::int64_t>>(counts.begin(), counts.end());
}

Status FakeKeyVersions::Insert(const KeyVersionRow& row) {
  constexpr std::string_view kStatement = "insert key version";
  if (!Known(row.kind)) return Refused(kStatement, "unknown platform");
  if (!Known(row.ownership)) return Refused(kStatement, "unknown ownership");
  if (!Known(row.state)) return Refused(kStatement, "unknown version state");
  if (!Known(row.stored_by_kind)) return Refused(kStatement, "unknown principal kind");
  if (row.source && !storage::ParseKeySource(storage::KeySourceName(*row.source))) {
    return Refused(kStatement, "unknown key source");
  }
  if (row.key_id && (row.key_id->empty() || row.key_id->size() > 64)) {
    return Refused(kStatement, "check");
  }
  if (row.version == 0 || row.iv.size() != 12 || row.tag.size() != 16 ||
      (row.fingerprint && (row.fingerprint->size() != 32 || row.fingerprint_key_version == 0))) {
    return Refused(kStatement, "check");
  }
  if (Find(row.device_id, row.version) != nullptr) {
    return Status::AlreadyExists(std::string(kStatement) + ": primary key");
  }
  if (!state_.devices.contains(row.device_id)) {
    return Status::FailedPrecondition(std::string(kStatement) + ": foreign key");
  }
  state_.versions.emplace(std::make_pair(row.device_id, row.version), row);
  return Status::Ok();
}

Status FakeKeyVersions::SetState(std::string_view device_id, std::uint32_t version,
                                 storage::VersionState state) {
  if (!Known(state)) return Refused("set key version state", "unknown version state");
  KeyVersionRow* row = Find(device_id, version);
  if (row == nullptr) return Status::NotFound("key version not found");
  row->state = state;
  return Status::Ok();
}

Status FakeKeyVersions::SetBurned(std::string_view device_id, std::uint32_t version) {
  KeyVersionRow* row = Find(device_id, version);
  if (row == nullptr) return Status::NotFound("key version not found");
  row->burned = true;
  return Status::Ok();
}

Status FakeKeyVersions::SupersedeActive(std::string_view device_id) {
  for (auto it = state_.versions.lower_bound({std::string(device_id), 0});
       it != state_.versions.end() && it->first.first == device_id; ++it) {
    if (it->second.state == storage::VersionState::kActive) {
      it->second.state = storage::VersionState::kSuperseded;
    }
  }
  return Status::Ok();
}

Status FakeKeyVersions::BurnActive(std::string_view device_id) {
  for (auto it = state_.versions.lower_bound({std::string(device_id), 0});
       it != state_.versions.end() && it->first.first == device_id; ++it) {
    if (it->second.state == storage::VersionState::kActive) it->second.burned = true;
  }
  return Status::Ok();
}

Status FakeKeyVersions::SetFingerprint(std::string_view device_id, std::uint32_t version,
                                       const Bytes& fingerprint, std::uint32_t key_version) {
  if (fingerprint.size() != 32 || key_version == 0) {
    return Refused("set key version fingerprint", "check");
  }
  KeyVersionRow* row = Find(device_id, version);
  if (row == nullptr) return Status::NotFound("key version not found");
  row->fingerprint = fingerprint;
  row->fingerprint_key_version = key_version;
  return Status::Ok();
}

Status FakeKeyVersions::SetVerified(std::string_view device_id, std::uint32_t version,
                                    std::optional<std::int64_t> verified_ms) {
  KeyVersionRow* row = Find(device_id, version);
  if (row == nullptr) return Status::NotFound("key version not found");
  row->verified_ms = verified_ms;
  return Status::Ok();
}

Status FakeKeyVersions::ReplaceSealed(std::string_view device_id, std::uint32_t version,
                                      std::uint32_t expected_old_master_version,
                                      std::uint32_t new_master_version, const Bytes& iv,
                                      const Bytes& ciphertext, const Bytes& tag) {
  KeyVersionRow* row = Find(device_id, version);
  if (row == nullptr || row->master_key_version != expected_old_master_version) {
    return Status::NotFound("key version under the expected master key version not found");
  }
  if (iv.size() != 12 || tag.size() != 16) return Refused("replace sealed key version", "check");
  row->master_key_version = new_master_version;
  row->iv = iv;
  row->ciphertext = ciphertext;
  row->tag = tag;
  return Status::Ok();
}

Status FakeKeyVersions::Destroy(std::string_view device_id, std::uint32_t version) {
  KeyVersionRow* row = Find(device_id, version);
  if (row == nullptr || row->state != storage::VersionState::kSuperseded) {
    return Status::NotFound("superseded key version not found");
  }
  row->state = storage::VersionState::kDestroyed;
  row->master_key_version = 0;
  row->iv = Bytes(12, 0);
  row->ciphertext = Bytes();
  row->tag = Bytes(16, 0);
  return Status::Ok();
}

// ---- audit --------------------------------------------------------------------------------

Result<std::vector<AuditRow>> FakeAuditRecords::List(std::uint64_t after, std::size_t limit,
                                                     std::optional<std::string_view> device_id) {
  std::vector<AuditRow> rows;
  for (auto it = state_.audit.upper_bound(after); it != state_.audit.end(); ++it) {
    if (rows.size() >= limit) break;
    if (device_id && it->second.device_id != *device_id) continue;
    rows.push_back(it->second);
  }
  return rows;
}

Result<std::optional<AuditRow>> FakeAuditRecords::Last() {
  if (state_.audit.empty()) return std::optional<AuditRow>();
  return std::optional<AuditRow>(state_.audit.rbegin()->second);
}

Result<std::optional<AuditRow>> FakeAuditRecords::Get(std::uint64_t seq) {
  auto it = state_.audit.find(seq);
  if (it == state_.audit.end()) return std::optional<AuditRow>();
  return std::optional<AuditRow>(it->second);
}

Result<std::optional<std::uint64_t>> FakeAuditRecords::NewestStateChange(
    std::string_view device_id) {
  for (auto it = state_.audit.rbegin(); it != state_.audit.rend(); ++it) {
    const AuditRow& row = it->second;
    if (row.device_id != device_id || row.outcome != "ok") continue;
    if (std::find(storage::kStateChangingActions.begin(), storage::kStateChangingActions.end(),
                  row.action) != storage::kStateChangingActions.end()) {
      return std::optional<std::uint64_t>(row.seq);
    }
  }
  return std::optional<std::uint64_t>();
}

Result<std::vector<AuditRow>> FakeAuditRecords::ListReleases(std::string_view device_id,
                                                             std::optional<std::uint64_t> before,
                                                             std::size_t limit) {
  std::vector<AuditRow> rows;
  for (auto it = state_.audit.rbegin(); it != state_.audit.rend() && rows.size() < limit; ++it) {
    const AuditRow& row = it->second;
    if (before && row.seq >= *before) continue;
    if (row.device_id != device_id || row.outcome != "ok") continue;
    if (std::find(storage::kReleaseActions.begin(), storage::kReleaseActions.end(), row.action) !=
        storage::kReleaseActions.end()) {
      rows.push_back(row);
    }
  }
  return rows;
}

Status FakeAuditRecords::Append(const AuditRow& row) {
  const std::uint64_t head = state_.audit.empty() ? 0 : state_.audit.rbegin()->first;
  if (row.seq <= head) {
    return Status::AlreadyExists("audit record " + std::to_string(row.seq) + " exists");
  }
  if (row.seq != head + 1) {
    return Status::InvalidArgument("audit record " + std::to_string(row.seq) +
                                   " would leave a gap after " + std::to_string(head));
  }
  if (row.hash.size() != 32 || (row.mac && (row.mac->size() < 16 || row.mac->size() > 64))) {
    return Refused("append audit record", "check");
  }
  state_.audit.emplace(row.seq, row);
  return Status::Ok();
}

// ---- limits and meta ------------------------------------------------------------------------

Result<QuotaWindow> FakeLimits::GetQuotaWindow(std::string_view principal, std::int64_t since_ms) {
  return WindowOf(state_, principal, since_ms);
}

Result<QuotaWindow> FakeLimits::AddQuotaEvent(std::string_view principal, std::int64_t at_ms,
                                              std::int64_t since_ms) {
  auto events = state_.quota_events.find(principal);
  if (events == state_.quota_events.end()) {
    events =
        state_.quota_events.emplace(std::string(principal), std::multiset<std::int64_t>()).first;
  }
  events->second.erase(events->second.begin(), events->second.upper_bound(since_ms));
  events->second.insert(at_ms);
  return WindowOf(state_, principal, since_ms);
}

Result<std::optional<std::string>> FakeMetaValues::Get(std::string_view key) {
  auto it = state_.meta.find(key);
  if (it == state_.meta.end()) return std::optional<std::string>();
  return std::optional<std::string>(it->second);
}

Status FakeMetaValues::Set(std::string_view key, std::string_view value) {
  auto it = state_.meta.find(key);
  if (it == state_.meta.end()) {
    state_.meta.emplace(std::string(key), std::string(value));
  } else {
    it->second = std::string(value);
  }
  return Status::Ok();
}

// ---- device states ----------------------------------------------------------------------------

Result<std::optional<storage::DeviceStateRow>> FakeDeviceStates::Get(std::string_view device_id) {
  auto it = state_.states.find(device_id);
  if (it == state_.states.end()) return std::optional<storage::DeviceStateRow>();
  return std::optional<storage::DeviceStateRow>(it->second);
}

Result<std::vector<storage::DeviceStateRow>> FakeDeviceStates::List(
    std::size_t limit, std::optional<std::string_view> after) {
  std::vector<storage::DeviceStateRow> rows;
  auto it = after ? state_.states.upper_bound(*after) : state_.states.begin();
  for (; it != state_.states.end() && rows.size() < limit; ++it) rows.push_back(it->second);
  return rows;
}

Status FakeDeviceStates::Put(const storage::DeviceStateRow& row) {
  constexpr std::string_view kStatement = "put device state";
  if (row.burned.size() % 32 != 0 || row.audit_seq == 0 || row.audit_hash.size() != 32 ||
      row.state_key_version == 0 || row.mac.size() != 32 ||
      (row.rotation_command_sent && !row.rotation_pending)) {
    return Refused(kStatement, "check");
  }
  if (!state_.devices.contains(row.device_id)) {
    return Status::FailedPrecondition(std::string(kStatement) + ": foreign key");
  }
  state_.states.insert_or_assign(row.device_id, row);
  return Status::Ok();
}

}  // namespace escrow::testing
