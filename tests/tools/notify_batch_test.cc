#include "tools/notify_batch.h"

#include <string>

#include <catch2/catch.hpp>

namespace escrow::tools {
namespace {

TEST_CASE("ParseEventPage keeps the events' exact bytes and order", "[tools][notify]") {
  // Escapes, unicode, nested values and odd spacing survive untouched.
  const std::string events =
      R"([ {"id":5,"type":"recovery_key.retrieved","reason":"ticket \"42\" \u00e9]}","by_owner":false},)"
      "\n"
      R"(  {"id":9 ,"type":"rotation.overdue","x":[1,{"y":"}"}],"at":"2026-12-07T00:00:00Z"} ])";
  const std::string body =
      R"({"next_after": 9, "other":{"events":[]}, "events" : )" + events + R"(, "z":"]"})";
  Result<EventPage> page = ParseEventPage(body, 4);
  REQUIRE(page.ok());
  CHECK(page->events_json == events);
  CHECK(page->count == 2);
  CHECK(page->first_id == 5);
  CHECK(page->last_id == 9);
  CHECK(WebhookBody(*page) == R"({"events":)" + events + "}");
}

TEST_CASE("ParseEventPage accepts an empty page", "[tools][notify]") {
  Result<EventPage> page = ParseEventPage(R"({"events":[],"next_after":null})", 12);
  REQUIRE(page.ok());
  CHECK(page->count == 0);
  CHECK(page->last_id == 0);
  CHECK(page->events_json == "[]");
}

TEST_CASE("ParseEventPage refuses pages a relay cannot trust", "[tools][notify]") {
  for (const char* bad :
       {"", "[]", "{}", R"({"events":{}})", R"({"events":[{"type":"x"}]})", R"({"events":[1]})",
        R"({"events":[{"id":"5"}]})", R"({"events":[{"id":-5}]})", R"({"events":[{"id":5.5}]})",
        R"({"events":[{"id":3}]})",                      // not after the cursor (4)
        R"({"events":[{"id":4}]})",                      // the cursor itself again
        R"({"events":[{"id":6},{"id":5}]})",             // out of order
        R"({"events":[{"id":6},{"id":6}]})",             // repeated
        R"({"events":[{"id":6}],"events":[{"id":7}]})",  // which one?
        R"({"ev\u0065nts":[{"id":6}]})"}) {
    INFO(bad);
    Result<EventPage> page = ParseEventPage(bad, 4);
    REQUIRE_FALSE(page.ok());
    CHECK(page.status().code() == Code::kDataLoss);
  }
}

}  // namespace
}  // namespace escrow::tools
