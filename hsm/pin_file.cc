#include "hsm/pin_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/unique_fd.h"

namespace escrow::hsm {
namespace {

constexpr std::size_t kMaxPinFileBytes = 256;


}  // namespace

Result<SecretBytes> ReadPinFile(const std::string& path) {
  if (path.empty()) return Status::InvalidArgument("no PIN file configured");
  const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    return Status::InvalidArgument("cannot read PIN file " + path + ": " + std::strerror(errno));
  }
  // Read straight into secure memory: no std::string or stdio buffer ever holds the PIN.
  SecretBytes pin(kMaxPinFileBytes + 1);
  std::size_t size = 0;
  while (size < pin.size()) {
    const ssize_t n = ::read(fd.get(), pin.mutable_span().data() + size, pin.size() - size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      return Status::InvalidArgument("cannot read PIN file " + path + ": " +
                                     std::strerror(errno));
    }
    if (n == 0) break;
    size += static_cast<std::size_t>(n);
  }
  if (size > kMaxPinFileBytes) {
    return Status::InvalidArgument("PIN file " + path + " is longer than 256 bytes");
  }
  const std::span<const std::uint8_t> bytes = pin.RevealSecret();
  if (size > 0 && bytes[size - 1] == '\n') {
    --size;
    if (size > 0 && bytes[size - 1] == '\r') --size;
  }
  if (size == 0) return Status::InvalidArgument("PIN file " + path + " is empty");
  pin.Truncate(size);
  return pin;
}

}  // namespace escrow::hsm
