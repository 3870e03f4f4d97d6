#include "vault/events.h"

#include "storage/rows.h"

namespace escrow::vault {

EventNote MakeEventNote(std::string_view type, std::string_view device_name,
                        std::string_view owner, std::string_view reason,
                        std::optional<bool> by_owner) {
  EventNote note;
  note.type = std::string(type);
  note.device_name = std::string(device_name);
  note.owner = std::string(owner);
  if (!reason.empty()) note.reason = std::string(reason);
  note.by_owner = by_owner;
  return note;
}

storage::EventRow MakeEventRow(const storage::AuditRow& record, EventNote note) {
  storage::EventRow row;
  row.id = record.seq;
  row.type = std::move(note.type);
  row.at_ms = record.time_ms;
  row.device_id = record.device_id;
  row.device_name = std::move(note.device_name);
  row.owner = std::move(note.owner);
  row.actor = record.actor;
  row.role = record.role;
  row.reason = std::move(note.reason);
  row.by_owner = note.by_owner;
  return row;
}

}  // namespace escrow::vault
