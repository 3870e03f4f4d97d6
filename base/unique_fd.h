#pragma once

#include <string>

#include "base/status.h"

namespace escrow {

// One owned POSIX file descriptor, closed when the owner goes; -1 is "none". Move-only. A close
// that must be checked (a file just written) goes through Close(); the destructor's close
// ignores errors, as nothing can be done about them there.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  UniqueFd(const UniqueFd&) = delete;  // two owners would close it twice
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd();

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  // Gives the descriptor up without closing it.
  int release();
  // Closes now; kUnavailable naming `what` and errno if close() fails. Idempotent.
  Status Close(const std::string& what = "file");

 private:
  int fd_ = -1;
};

}  // namespace escrow
