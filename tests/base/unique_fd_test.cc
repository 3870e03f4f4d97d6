#include "base/unique_fd.h"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <utility>

namespace escrow {
namespace {

bool IsOpen(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

TEST_CASE("UniqueFd closes its descriptor once, moves ownership and gives it up on release",
          "[base][fd]") {
  int raw = -1;
  {
    UniqueFd fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    REQUIRE(fd.valid());
    raw = fd.get();
    UniqueFd moved = std::move(fd);
    // Reading the moved-from fd is the point of this check, not a use-after-move bug.
    CHECK_FALSE(fd.valid());  // NOLINT(bugprone-use-after-move,clang-analyzer-cplusplus.Move)
    CHECK(moved.get() == raw);
    CHECK(IsOpen(raw));
  }
  CHECK_FALSE(IsOpen(raw));  // closed by the owner, once

  UniqueFd fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  const int kept = fd.release();
  CHECK_FALSE(fd.valid());
  CHECK(IsOpen(kept));
  ::close(kept);
}

TEST_CASE("UniqueFd::Close reports a failed close and is idempotent", "[base][fd]") {
  UniqueFd fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  CHECK(fd.Close().ok());
  CHECK_FALSE(fd.valid());
  CHECK(fd.Close().ok());  // nothing left to close
  UniqueFd bogus(1'000'000);  // no such descriptor: close fails with EBADF
  const Status s = bogus.Close("bogus");
  CHECK(s.code() == Code::kUnavailable);
  CHECK_THAT(s.message(), Catch::Contains("close bogus"));
}

}  // namespace
}  // namespace escrow
