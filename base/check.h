#pragma once

// Violated preconditions are bugs, not Statuses: log the place and abort.
#define ESCROW_CHECK(cond)                                        \
  do {                                                            \
    if (!(cond)) ::escrow::CheckFailed(#cond, __FILE__, __LINE__); \
  } while (false)

namespace escrow {
[[noreturn]] void CheckFailed(const char* expr, const char* file, int line);
}  // namespace escrow
