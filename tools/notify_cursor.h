#pragma once

#include <cstdint>
#include <string>

#include "base/result.h"
#include "base/unique_fd.h"

namespace escrow::tools {

// The relay's cursor: the id of the last event a webhook acknowledged (2xx), kept in
// `<state_dir>/cursor` as decimal digits and a newline. Store() writes a temp file, fsyncs
// it, renames it over the old one and fsyncs the folder, so after a crash the file holds
// either the old or the new value, never a torn one. The relay stores before it asks vaultd
// for more, so a crash re-sends at most the last batch and never skips one.
// An exclusive flock on `<state_dir>/lock` keeps a second relay off the same state (one per
// cluster, API.md); the kernel drops it when the process dies, even by SIGKILL.
// Not thread-safe; one per process.
class Cursor {
 public:
  // Creates state_dir (mode 0700) if missing, takes the lock and reads the cursor (0 if no
  // file yet). kFailedPrecondition if another relay holds the lock, kDataLoss if the file is
  // not a decimal number (never silently restarts from 0 or skips), kUnavailable on I/O errors.
  static Result<Cursor> Open(const std::string& state_dir);

  std::uint64_t value() const { return value_; }
  // Durably records `id`. kUnavailable naming the failed step; the old value then stays.
  Status Store(std::uint64_t id);

 private:
  Cursor(std::string dir, UniqueFd lock, std::uint64_t value)
      : dir_(std::move(dir)), lock_(std::move(lock)), value_(value) {}
  std::string dir_;
  UniqueFd lock_;  // holds the flock for the process's lifetime
  std::uint64_t value_ = 0;
};

}  // namespace escrow::tools
