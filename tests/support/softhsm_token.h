#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "hsm/key_service.h"
#include "tests/support/temp_dir.h"

namespace escrow::testing {

// A fresh, initialised SoftHSMv2 token for one test, with its user PIN in a 0600 file.
//
// SoftHSMv2 reads SOFTHSM2_CONF once, at C_Initialize, and the library stays initialised while
// any KeyService of the process is open. So all fixtures of a process share one configuration
// and token directory (a TempDir created on first use, SOFTHSM2_CONF set with setenv, removed
// at exit) and each fixture creates its own token with a unique label instead. Tests must not
// point SOFTHSM2_CONF elsewhere. Tokens are created with hsm::InitializeToken, so test
// executables using this fixture link escrow_test_support before escrow::hsm.
// Not thread-safe to construct concurrently with another fixture's construction.
class SoftHsmToken {
 public:
  static constexpr std::string_view kModulePath = "/usr/lib/softhsm/libsofthsm2.so";

  SoftHsmToken();  // throws std::runtime_error if the token cannot be created
  SoftHsmToken(const SoftHsmToken&) = delete;  // one owner per token directory
  SoftHsmToken& operator=(const SoftHsmToken&) = delete;
  ~SoftHsmToken() = default;  // the token stays until the process's directory is removed

  std::string module_path() const { return std::string(kModulePath); }
  const std::string& label() const { return label_; }
  const std::string& pin() const { return pin_; }  // test PIN, not a secret
  std::string pin_file() const { return pin_file_.string(); }
  // This token's own directory (tokens/<uuid>) and the process-wide ones.
  const std::filesystem::path& token_dir() const { return token_dir_; }
  static std::filesystem::path tokens_root();
  static std::filesystem::path conf_path();
  hsm::HsmConfig config() const;

  // Writes `content` to a new 0600 file in this fixture's directory; returns its path.
  std::string WriteFile(std::string_view name, std::string_view content) const;
  // The environment prefix for shell commands (pkcs11-tool): "SOFTHSM2_CONF='...' ".
  static std::string ShellEnv();

 private:
  TempDir dir_;
  std::string label_;
  std::string pin_;
  std::filesystem::path pin_file_;
  std::filesystem::path token_dir_;
};

// Sleeps past hsm::kKeyRecheckInterval (with a margin): a KeyService works on session copies
// of its keys and sees a key or token that went away behind its back only after that.
void WaitPastKeyRecheck();

}  // namespace escrow::testing
