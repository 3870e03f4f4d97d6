#pragma once

#include <string_view>

#include <boost/json/object.hpp>

namespace escrow {

// The JSON-lines logger of vaultd and the libraries (vaultctl's own output is plain text).
// Writes `event` as one JSON line to stderr, whole lines only (serialised by a mutex) and
// flushed at once. Callers never put a key, token, PIN or request body in it. Thread-safe.
void LogJson(const boost::json::object& event);

// {"event":event,"error":message} and {"event":event,"message":message}.
void LogError(std::string_view event, std::string_view error);
void LogInfo(std::string_view event, std::string_view message);

}  // namespace escrow
