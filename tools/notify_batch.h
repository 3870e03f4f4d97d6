#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"

namespace escrow::tools {

// One page of GET /v1/events, checked and ready to relay. The events keep the exact bytes
// vaultd sent: the webhook body is {"events":<that array>}, so a receiver sees what the vault
// wrote, in the vault's order.
struct EventPage {
  std::string events_json;  // the raw "events" array, "[...]"
  std::uint64_t count = 0;
  std::uint64_t first_id = 0;  // 0 when empty
  std::uint64_t last_id = 0;   // 0 when empty
};

// Parses a GET /v1/events answer asked with `after`: an object whose "events" is an array of
// objects, each with an integer "id" greater than `after` and than the one before it.
// kDataLoss otherwise (a relay must not skip or reorder what it cannot make sense of).
Result<EventPage> ParseEventPage(std::string_view body, std::uint64_t after);

// {"events":<page.events_json>}: the webhook body.
std::string WebhookBody(const EventPage& page);

}  // namespace escrow::tools
