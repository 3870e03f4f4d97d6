#include "vault/ops/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <utility>

#include "base/bytes.h"
#include "base/unique_fd.h"

namespace escrow::ops {

Status FileError(std::string_view what, const std::filesystem::path& path, int err) {
  std::string msg = std::string(what) + " " + path.string() + ": " + std::strerror(err);
  if (err == EEXIST) return Status::AlreadyExists(std::move(msg));
  return Status::Unavailable(std::move(msg));
}

Status WriteNewFile(const std::filesystem::path& path, std::span<const std::uint8_t> data,
                    unsigned mode) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                     static_cast<mode_t>(mode)));
  if (!fd.valid()) return FileError("cannot create", path, errno);
  // Exactly `mode` whatever the umask: secrets 0600, certificates public.
  if (::fchmod(fd.get(), static_cast<mode_t>(mode)) != 0) {
    return FileError("cannot chmod", path, errno);
  }
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd.get(), data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return FileError("cannot write", path, errno);
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd.get()) != 0) return FileError("cannot sync", path, errno);
  return fd.Close(path.string());
}

Status WriteNewFile(const std::filesystem::path& path, std::string_view text, unsigned mode) {
  return WriteNewFile(path, AsBytes(text), mode);
}

Status WriteNewPrivateFile(const std::filesystem::path& path, std::string_view text) {
  return WriteNewFile(path, text, 0600);
}

Status WriteNewPrivateFile(const std::filesystem::path& path, std::span<const std::uint8_t> data) {
  return WriteNewFile(path, data, 0600);
}

Result<std::string> ReadSmallFile(const std::filesystem::path& path, std::size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("cannot read " + path.string());
  std::string text;
  text.resize(max_bytes + 1);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  const auto got = static_cast<std::size_t>(in.gcount());
  if (got > max_bytes) {
    return Status::InvalidArgument(path.string() + " is larger than " + std::to_string(max_bytes) +
                                   " bytes");
  }
  text.resize(got);
  return text;
}

Result<SecretBytes> ReadSecretFile(const std::filesystem::path& path, std::size_t max_bytes) {
  const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return Status::NotFound("cannot read " + path.string());
  SecretBytes buffer(max_bytes + 1);
  std::size_t got = 0;
  for (;;) {
    std::span<std::uint8_t> room = buffer.mutable_span().subspan(got);
    if (room.empty()) break;
    const ssize_t n = ::read(fd.get(), room.data(), room.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  if (got > max_bytes) {
    return Status::InvalidArgument(path.string() + " is larger than " + std::to_string(max_bytes) +
                                   " bytes");
  }
  buffer.Truncate(got);
  return buffer;
}

}  // namespace escrow::ops
