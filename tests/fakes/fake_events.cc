// FakeEvents (tests/fakes/fake_tables.h): the events and notifier_cursors tables in memory,
// with the Status order SQLite gives (CHECK, then the primary key, then the foreign key).
#include <algorithm>
#include <vector>

#include "tests/fakes/fake_tables.h"

namespace escrow::testing {

Result<std::vector<storage::EventRow>> FakeEvents::List(std::uint64_t after, std::size_t limit) {
  std::vector<storage::EventRow> rows;
  for (auto it = state_.events.upper_bound(after);
       it != state_.events.end() && rows.size() < limit; ++it) {
    rows.push_back(it->second);
  }
  return rows;
}

Result<std::optional<std::uint64_t>> FakeEvents::Cursor(std::string_view client) {
  auto it = state_.notifier_cursors.find(client);
  if (it == state_.notifier_cursors.end()) return std::optional<std::uint64_t>();
  return std::optional<std::uint64_t>(it->second);
}

Result<std::optional<std::uint64_t>> FakeEvents::OldestCursor() {
  std::optional<std::uint64_t> oldest;
  for (const auto& [client, after] : state_.notifier_cursors) {
    if (!oldest || after < *oldest) oldest = after;
  }
  return oldest;
}

Status FakeEvents::Insert(const storage::EventRow& row) {
  if (row.id == 0 || row.type.empty()) return Status::InvalidArgument("insert event: check");
  if (state_.events.contains(row.id)) return Status::AlreadyExists("insert event: unique");
  if (!state_.audit.contains(row.id)) {
    return Status::FailedPrecondition("insert event: foreign key");
  }
  state_.events[row.id] = row;
  return Status::Ok();
}

Result<std::size_t> FakeEvents::DeleteBefore(std::int64_t before_ms, std::size_t limit) {
  std::vector<std::pair<std::int64_t, std::uint64_t>> old;  // (at_ms, id)
  for (const auto& [id, row] : state_.events) {
    if (row.at_ms < before_ms) old.emplace_back(row.at_ms, id);
  }
  std::sort(old.begin(), old.end());
  if (old.size() > limit) old.resize(limit);
  for (const auto& [at, id] : old) state_.events.erase(id);
  return old.size();
}

Result<bool> FakeEvents::AdvanceCursor(std::string_view client, std::uint64_t after) {
  auto it = state_.notifier_cursors.find(client);
  if (it == state_.notifier_cursors.end()) {
    state_.notifier_cursors.emplace(std::string(client), after);
    return true;
  }
  if (after <= it->second) return false;
  it->second = after;
  return true;
}

}  // namespace escrow::testing
