#include "hsm/token_sync.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "base/unique_fd.h"

namespace escrow::hsm {
namespace {

constexpr const char* kDefaultConf = "/etc/softhsm/softhsm2.conf";

std::string_view Trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t\r");
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(" \t\r");
  return s.substr(first, last - first + 1);
}

// ENOENT is fine: SoftHSMv2 may have removed an object file since we listed it.
Status SyncPath(const std::filesystem::path& path, bool directory) {
  int flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW;
  if (directory) flags |= O_DIRECTORY;
  const UniqueFd fd(::open(path.c_str(), flags));
  if (!fd.valid()) {
    if (errno == ENOENT) return Status::Ok();
    return Status::Unavailable("cannot open " + path.string() + " to sync it: " +
                               std::strerror(errno));
  }
  if (::fsync(fd.get()) != 0) {
    return Status::Unavailable("fsync " + path.string() + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

}  // namespace

std::optional<std::filesystem::path> SoftHsmTokenDir() {
  const char* env = std::getenv("SOFTHSM2_CONF");  // NOLINT(concurrency-mt-unsafe)
  return TokenDirFromConf(env != nullptr && *env != '\0' ? env : kDefaultConf);
}

std::optional<std::filesystem::path> TokenDirFromConf(const std::filesystem::path& path) {
  std::ifstream conf(path);
  if (!conf) return std::nullopt;
  std::string line;
  while (std::getline(conf, line)) {
    std::string_view text = Trim(line);
    if (text.empty() || text.front() == '#') continue;
    const auto eq = text.find('=');
    if (eq == std::string_view::npos || Trim(text.substr(0, eq)) != "directories.tokendir") {
      continue;
    }
    const std::string_view dir = Trim(text.substr(eq + 1));
    if (dir.empty()) return std::nullopt;
    return std::filesystem::path(dir);
  }
  return std::nullopt;
}

namespace {

// Syncs `dir` and everything under it, deepest directories last.
Status SyncTree(const std::filesystem::path& dir) {
  std::error_code ec;
  std::vector<std::filesystem::path> dirs;
  std::filesystem::recursive_directory_iterator it(dir, ec);
  for (; !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    const std::filesystem::file_status st = it->symlink_status(ec);
    if (ec) break;
    if (std::filesystem::is_directory(st)) {
      dirs.push_back(it->path());
    } else if (std::filesystem::is_regular_file(st)) {
      if (Status s = SyncPath(it->path(), false); !s.ok()) return s;
    }
  }
  // A directory vanishing under us (a token deleted meanwhile) is not our failure.
  if (ec && ec != std::errc::no_such_file_or_directory) {
    return Status::Unavailable("cannot list " + dir.string() + ": " + ec.message());
  }
  // Deepest first, so each directory is synced after the entries it gained.
  for (auto d = dirs.rbegin(); d != dirs.rend(); ++d) {
    if (Status s = SyncPath(*d, true); !s.ok()) return s;
  }
  return SyncPath(dir, true);
}

// The one token subdirectory whose token.object holds `serial`, if exactly one does.
std::optional<std::filesystem::path> FindTokenSubdir(const std::filesystem::path& root,
                                                     std::string_view serial) {
  if (serial.empty()) return std::nullopt;
  std::optional<std::filesystem::path> found;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(root, ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    std::ifstream in(it->path() / "token.object", std::ios::binary);
    if (!in) continue;
    // token.object holds the token's attributes and wrapped (never plaintext) token keys.
    std::string content(std::size_t{64} * 1024, '\0');
    in.read(content.data(), static_cast<std::streamsize>(content.size()));
    content.resize(static_cast<std::size_t>(in.gcount()));
    if (content.find(serial) == std::string::npos) continue;
    if (found) return std::nullopt;  // ambiguous: sync everything
    found = it->path();
  }
  return found;
}

}  // namespace

Status SyncSoftHsmTokenDir(std::string_view serial) {
  const std::optional<std::filesystem::path> root = SoftHsmTokenDir();
  if (!root) return Status::Ok();
  std::error_code ec;
  if (!std::filesystem::is_directory(*root, ec)) return Status::Ok();
  if (const std::optional<std::filesystem::path> token = FindTokenSubdir(*root, serial)) {
    ESCROW_RETURN_IF_ERROR(SyncTree(*token));
    return SyncPath(*root, true);
  }
  return SyncTree(*root);
}

}  // namespace escrow::hsm

namespace escrow::hsm {
namespace {

std::optional<std::chrono::system_clock::time_point> Ctime(const std::filesystem::path& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return std::nullopt;
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::seconds(st.st_ctim.tv_sec) + std::chrono::nanoseconds(st.st_ctim.tv_nsec)));
}

}  // namespace

TokenSnapshot SnapshotSoftHsmToken(std::string_view serial) {
  TokenSnapshot snap;
  snap.taken = std::chrono::system_clock::now();
  const std::optional<std::filesystem::path> root = SoftHsmTokenDir();
  if (!root) return snap;
  const std::optional<std::filesystem::path> token = FindTokenSubdir(*root, serial);
  if (!token) return snap;
  snap.dir = *token;
  if (const auto ctime = Ctime(*token)) snap.ctimes.emplace(*token, *ctime);
  std::error_code ec;
  for (std::filesystem::recursive_directory_iterator it(*token, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (const auto ctime = Ctime(it->path())) snap.ctimes.emplace(it->path(), *ctime);
  }
  return snap;
}

Result<SyncPlan> PlanTokenSync(const TokenSnapshot& before) {
  SyncPlan plan;
  const auto changed = [&](const std::filesystem::path& path) {
    const std::optional<std::chrono::system_clock::time_point> now = Ctime(path);
    if (!now) return false;  // gone since it was listed: nothing to sync
    const auto was = before.ctimes.find(path);
    return was == before.ctimes.end() || was->second != *now ||
           *now >= before.taken - kCtimeSlack;
  };
  std::error_code ec;
  std::filesystem::recursive_directory_iterator it(before.dir, ec);
  for (; !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    const std::filesystem::file_status st = it->symlink_status(ec);
    if (ec) break;
    if (!changed(it->path())) continue;
    if (std::filesystem::is_directory(st)) {
      plan.directories.push_back(it->path());
    } else if (std::filesystem::is_regular_file(st)) {
      plan.files.push_back(it->path());
    }
  }
  if (ec && ec != std::errc::no_such_file_or_directory) {
    return Status::Unavailable("cannot list " + before.dir.string() + ": " + ec.message());
  }
  std::reverse(plan.directories.begin(), plan.directories.end());
  if (changed(before.dir)) plan.directories.push_back(before.dir);
  return plan;
}

Status SyncSoftHsmTokenChanges(const TokenSnapshot& before, std::string_view serial) {
  if (before.dir.empty()) return SyncSoftHsmTokenDir(serial);
  ESCROW_ASSIGN_OR_RETURN(const SyncPlan plan, PlanTokenSync(before));
  for (const std::filesystem::path& f : plan.files) {
    ESCROW_RETURN_IF_ERROR(SyncPath(f, false));
  }
  for (const std::filesystem::path& d : plan.directories) {
    ESCROW_RETURN_IF_ERROR(SyncPath(d, true));
  }
  return Status::Ok();
}

}  // namespace escrow::hsm
