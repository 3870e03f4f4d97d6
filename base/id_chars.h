#pragma once

#include <algorithm>
#include <string_view>

namespace escrow {

// The characters of the names the vault takes from outside and puts in keys, labels and paths
// (device ids, node names): ASCII letters, digits, '.', '_' and '-'.
constexpr bool IsIdChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         c == '.' || c == '_' || c == '-';
}

// Whether every character of `s` is IsIdChar (true for an empty `s`: callers bound the length).
inline bool AllIdChars(std::string_view s) { return std::all_of(s.begin(), s.end(), IsIdChar); }

}  // namespace escrow
