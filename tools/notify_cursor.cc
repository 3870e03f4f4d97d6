#include "tools/notify_cursor.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <string_view>

namespace escrow::tools {
namespace {

Status Io(const std::string& what, int err) {
  return Status::Unavailable("cursor: " + what + ": " + std::strerror(err));
}

Status WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Io("write", errno);
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return Status::Ok();
}

Status FsyncPath(const std::string& path, int flags) {
  UniqueFd fd(::open(path.c_str(), flags | O_CLOEXEC));
  if (!fd.valid()) return Io("open " + path, errno);
  if (::fsync(fd.get()) != 0) return Io("fsync " + path, errno);
  return fd.Close(path);
}

// 0 for a missing file; the stored id otherwise.
Result<std::uint64_t> ReadCursor(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return std::uint64_t{0};
    return Io("open " + path, errno);
  }
  char buf[32];  // NOLINT(cppcoreguidelines-avoid-c-arrays): a read() buffer
  ssize_t n = 0;
  do {
    n = ::read(fd.get(), buf, sizeof buf);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return Io("read " + path, errno);
  std::string_view text(buf, static_cast<std::size_t>(n));
  if (text.ends_with('\n')) text.remove_suffix(1);
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
    return Status::DataLoss("cursor: " + path +
                            " is not a decimal event id (restore it, or remove it to re-send "
                            "every event vaultd still keeps)");
  }
  return value;
}

}  // namespace

Result<Cursor> Cursor::Open(const std::string& state_dir) {
  if (::mkdir(state_dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return Io("mkdir " + state_dir, errno);
  }
  const std::string lock_path = state_dir + "/lock";
  UniqueFd lock(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!lock.valid()) return Io("open " + lock_path, errno);
  if (::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return Status::FailedPrecondition("another vault-notify is running on " + state_dir);
    }
    return Io("flock " + lock_path, errno);
  }
  ESCROW_ASSIGN_OR_RETURN(const std::uint64_t value, ReadCursor(state_dir + "/cursor"));
  return Cursor(state_dir, std::move(lock), value);
}

Status Cursor::Store(std::uint64_t id) {
  const std::string tmp = dir_ + "/cursor.tmp";
  const std::string path = dir_ + "/cursor";
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd.valid()) return Io("open " + tmp, errno);
  ESCROW_RETURN_IF_ERROR(WriteAll(fd.get(), std::to_string(id) + "\n"));
  if (::fsync(fd.get()) != 0) return Io("fsync " + tmp, errno);
  ESCROW_RETURN_IF_ERROR(fd.Close(tmp));
  if (::rename(tmp.c_str(), path.c_str()) != 0) return Io("rename " + tmp, errno);
  // The rename itself is durable only once the folder's entry is on disk.
  ESCROW_RETURN_IF_ERROR(FsyncPath(dir_, O_RDONLY | O_DIRECTORY));
  value_ = id;
  return Status::Ok();
}

}  // namespace escrow::tools
