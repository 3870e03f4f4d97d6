#pragma once

// Events (API.md "Events for owners and security teams"): one row per event, written in the
// transaction of its audit record and keyed by that record's sequence number, read by pull
// (GET /v1/events) and deleted after [events] keep_days. Only metadata: never key material.
// Beside them, each notifier client's cursor: the `after` it last asked for.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace escrow::storage {

struct EventRow {
  std::uint64_t id = 0;  // the audit record's seq
  std::string type;      // "recovery_key.stored", ... (vault/ decides)
  std::int64_t at_ms = 0;
  std::string device_id;
  std::string device_name;
  std::string owner;  // the version's recorded owner
  std::string actor;  // kind-qualified, as the audit record's
  std::string role;
  std::optional<std::string> reason;
  std::optional<bool> by_owner;  // recovery_key.retrieved only
};

// Read inside one transaction (txn.h gives the errors every method may also return).
// Not thread-safe: it belongs to its transaction.
class EventReader {
 public:
  virtual ~EventReader() = default;
  // Oldest first (by id), id > `after`, at most `limit` rows: a walk of the primary key.
  virtual Result<std::vector<EventRow>> List(std::uint64_t after, std::size_t limit) = 0;
  // The `after` that notifier client `client` last asked for; nullopt if it never asked.
  virtual Result<std::optional<std::uint64_t>> Cursor(std::string_view client) = 0;
  // The smallest cursor of all notifier clients; nullopt if none ever asked.
  virtual Result<std::optional<std::uint64_t>> OldestCursor() = 0;

 protected:
  // Copied or moved only as a concrete store, never sliced through this interface.
  EventReader() = default;
  EventReader(const EventReader&) = default;
  EventReader& operator=(const EventReader&) = default;
  EventReader(EventReader&&) = default;
  EventReader& operator=(EventReader&&) = default;
};

// The events inside a write transaction; its reads see the transaction's own writes.
class EventWriter : public EventReader {
 public:
  // kAlreadyExists for a known id; kFailedPrecondition if no audit record has this id (the
  // record goes in first, in the same transaction); kInvalidArgument for id 0 or an empty type.
  virtual Status Insert(const EventRow& row) = 0;
  // Deletes up to `limit` events timed before `before_ms`, oldest first; returns how many.
  virtual Result<std::size_t> DeleteBefore(std::int64_t before_ms, std::size_t limit) = 0;
  // Sets `client`'s cursor to `after` if it never asked or asked for less (a cursor never
  // goes back); true if it changed.
  virtual Result<bool> AdvanceCursor(std::string_view client, std::uint64_t after) = 0;
};

}  // namespace escrow::storage
