#include "tools/notify_batch.h"

#include <optional>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

namespace escrow::tools {
namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// The offset just past the JSON string that starts at `i` (a '"').
std::size_t SkipString(std::string_view s, std::size_t i) {
  for (++i; i < s.size() && s[i] != '"'; ++i) {
    if (s[i] == '\\') ++i;
  }
  return i + 1;
}

// The offset just past the JSON value that starts at `i`.
std::size_t SkipValue(std::string_view s, std::size_t i) {
  if (s[i] == '"') return SkipString(s, i);
  if (s[i] != '{' && s[i] != '[') {
    while (i < s.size() && s[i] != ',' && s[i] != '}' && s[i] != ']' && !IsSpace(s[i])) ++i;
    return i;
  }
  int depth = 0;
  while (i < s.size()) {
    const char c = s[i];
    if (c == '"') {
      i = SkipString(s, i);
      continue;
    }
    if (c == '{' || c == '[') ++depth;
    if (c == '}' || c == ']') --depth;
    ++i;
    if (depth == 0) break;
  }
  return i;
}

std::size_t SkipSpace(std::string_view s, std::size_t i) {
  while (i < s.size() && IsSpace(s[i])) ++i;
  return i;
}

// The raw text of the top-level member `key` of `json`, an object a JSON parser has already
// accepted (so the scan need not check the grammar). A key written with escapes is not found.
std::optional<std::string_view> RawMember(std::string_view json, std::string_view key) {
  std::size_t i = SkipSpace(json, 0);
  if (i >= json.size() || json[i] != '{') return std::nullopt;
  i = SkipSpace(json, i + 1);
  while (i < json.size() && json[i] == '"') {
    const std::size_t key_end = SkipString(json, i);
    const std::string_view name = json.substr(i + 1, key_end - i - 2);
    i = SkipSpace(json, SkipSpace(json, key_end) + 1);  // past the ':'
    const std::size_t value_end = SkipValue(json, i);
    if (name == key) return json.substr(i, value_end - i);
    i = SkipSpace(json, value_end);
    if (i < json.size() && json[i] == ',') i = SkipSpace(json, i + 1);
  }
  return std::nullopt;
}

Status Bad(const std::string& what) { return Status::DataLoss("events page: " + what); }

}  // namespace

Result<EventPage> ParseEventPage(std::string_view body, std::uint64_t after) {
  boost::system::error_code ec;
  const boost::json::value v = boost::json::parse(body, ec);
  if (ec || !v.is_object()) return Bad("not a JSON object");
  const boost::json::value* events = v.as_object().if_contains("events");
  if (events == nullptr || !events->is_array()) return Bad("no \"events\" array");
  EventPage page;
  std::uint64_t last = after;
  for (const boost::json::value& e : events->as_array()) {
    const boost::json::value* id = e.is_object() ? e.as_object().if_contains("id") : nullptr;
    if (id == nullptr || !(id->is_uint64() || id->is_int64())) return Bad("an event has no id");
    const std::uint64_t n = id->to_number<std::uint64_t>(ec);
    if (ec || n <= last) {
      return Bad("event ids must increase past " + std::to_string(last) + ", got " +
                 boost::json::serialize(*id));
    }
    if (page.count == 0) page.first_id = n;
    last = n;
    ++page.count;
  }
  page.last_id = page.count == 0 ? 0 : last;
  const std::optional<std::string_view> raw = RawMember(body, "events");
  // What is relayed must be what was checked (a duplicate "events" key could differ).
  if (!raw || boost::json::parse(*raw, ec) != *events || ec) {
    return Bad("the raw \"events\" array differs from the parsed one");
  }
  page.events_json = std::string(*raw);
  return page;
}

std::string WebhookBody(const EventPage& page) { return R"({"events":)" + page.events_json + "}"; }

}  // namespace escrow::tools
