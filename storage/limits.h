#pragma once

#include <cstdint>
#include <string_view>

#include "base/result.h"
#include "storage/rows.h"

namespace escrow::storage {

// Limits and quotas counted in the database (a rolling window of quota events per
// principal), read inside one transaction (txn.h gives the errors every method may also
// return). Not thread-safe: it belongs to its transaction.
class LimitReader {
 public:
  virtual ~LimitReader() = default;
  // The principal's quota events after `since_ms` (the start of the window).
  virtual Result<QuotaWindow> GetQuotaWindow(std::string_view principal, std::int64_t since_ms) = 0;

 protected:
  // Copied or moved only as a concrete store, never sliced through this interface.
  LimitReader() = default;
  LimitReader(const LimitReader&) = default;
  LimitReader& operator=(const LimitReader&) = default;
  LimitReader(LimitReader&&) = default;
  LimitReader& operator=(LimitReader&&) = default;
};

class LimitWriter : public LimitReader {
 public:
  // Records a quota event of `principal` at `at_ms` and returns the principal's events after
  // `since_ms` (the start of the window), this one included. First deletes the principal's
  // events at or before `since_ms`: they have left the window, so the table keeps at most one
  // window of events per principal and each call deletes at most that many.
  virtual Result<QuotaWindow> AddQuotaEvent(std::string_view principal, std::int64_t at_ms,
                                            std::int64_t since_ms) = 0;
};

}  // namespace escrow::storage
