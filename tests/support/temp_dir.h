#pragma once

#include <filesystem>
#include <string>

namespace escrow::testing {

// A fresh directory under $TMPDIR, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  TempDir(const TempDir&) = delete;  // two owners would remove it twice
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }
  std::string str() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

// Reads a whole file as bytes in a string (test helper; never for secrets in product code).
std::string ReadFileBytes(const std::filesystem::path& path);
// Runs a shell command, returns its exit status and captures stdout (stderr passes through).
int RunCommand(const std::string& command, std::string* out = nullptr);

}  // namespace escrow::testing
