#pragma once

// Events (API.md "Events for owners and security teams"): what an event adds to its audit
// record. The service attaches an EventNote to the audit event of a successful operation; the
// commit pipeline writes the event row in the record's transaction once the record's sequence
// number is known, so that an event exists exactly when its record does, under its seq.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/events.h"

namespace escrow::storage {
struct AuditRow;
}

namespace escrow::vault {

// The event types of API.md.
inline constexpr std::string_view kEventKeyStored = "recovery_key.stored";
inline constexpr std::string_view kEventKeyRetrieved = "recovery_key.retrieved";
inline constexpr std::string_view kEventRotationRequested = "rotation.requested";
inline constexpr std::string_view kEventRotationOverdue = "rotation.overdue";
inline constexpr std::string_view kEventAccessRequestCreated = "access_request.created";
inline constexpr std::string_view kEventAccessRequestApproved = "access_request.approved";
inline constexpr std::string_view kEventAccessRequestDenied = "access_request.denied";

// An event's own fields; id, time, device, actor and role are its audit record's.
struct EventNote {
  std::string type;
  std::string device_name;
  std::string owner;  // the version's recorded owner (the device's where no version is meant)
  std::optional<std::string> reason;  // where there is one (never empty)
  std::optional<bool> by_owner;       // recovery_key.retrieved only
};

// The note of an event about a device: `reason` is kept only if not empty.
EventNote MakeEventNote(std::string_view type, std::string_view device_name,
                        std::string_view owner, std::string_view reason = {},
                        std::optional<bool> by_owner = std::nullopt);

// The row written for `note` beside the committed form of its audit record.
storage::EventRow MakeEventRow(const storage::AuditRow& record, EventNote note);

// GET /v1/events: a page of events, oldest first; next_after is set when the page is full.
struct EventPage {
  std::vector<storage::EventRow> events;
  std::optional<std::uint64_t> next_after;
};

inline constexpr std::size_t kDefaultEventPageLimit = 100;
inline constexpr std::size_t kMaxEventPageLimit = 1000;

}  // namespace escrow::vault
