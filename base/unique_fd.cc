#include "base/unique_fd.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace escrow {

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.release();
  }
  return *this;
}

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) ::close(fd_);
}

int UniqueFd::release() {
  const int fd = fd_;
  fd_ = -1;
  return fd;
}

Status UniqueFd::Close(const std::string& what) {
  if (fd_ < 0) return Status::Ok();
  const int rc = ::close(release());
  if (rc != 0) return Status::Unavailable("close " + what + ": " + std::strerror(errno));
  return Status::Ok();
}

}  // namespace escrow
