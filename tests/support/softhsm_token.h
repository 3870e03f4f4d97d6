#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "hsm/key_service.h"
#include "tests/support/temp_dir.h"

namespace escrow::testing {

class NssSoftoken;

// A fresh, initialised SoftHSMv2 token for one test, with its user PIN in a 0600 file.
//
// SoftHSMv2 reads SOFTHSM2_CONF once, at C_Initialize, and the library stays initialised while
// any KeyService of the process is open. So all fixtures of a process share one configuration
// and token directory (a TempDir created on first use, SOFTHSM2_CONF set with setenv, removed
// at exit) and each fixture creates its own token with a unique label instead. Tests must not
// point SOFTHSM2_CONF elsewhere. Tokens are created with hsm::InitializeToken, so test
// executables using this fixture link escrow_test_support before escrow::hsm.
// Not thread-safe to construct concurrently with another fixture's construction.
//
// With ESCROW_TEST_PKCS11=nss in the environment, the fixture is an NSS softoken database
// instead (tests/support/nss_softoken.h): module_path(), label(), pin(), pin_file() and
// config() (which then has the token URI and init_args) are NSS's, token_dir() is the
// database directory. NSS takes one database per process at a time, so a test that holds two
// fixtures while a KeyService is open fails at the second; see nss() for tests that must know.
class SoftHsmToken {
 public:
  static constexpr std::string_view kModulePath = "/usr/lib/softhsm/libsofthsm2.so";

  SoftHsmToken();  // throws std::runtime_error if the token cannot be created
  SoftHsmToken(const SoftHsmToken&) = delete;  // one owner per token directory
  SoftHsmToken& operator=(const SoftHsmToken&) = delete;
  ~SoftHsmToken();  // the token stays until the process's directory is removed

  // Whether ESCROW_TEST_PKCS11=nss asks for NSS's softoken instead of SoftHSMv2.
  static bool UsesNss();
  bool nss() const { return nss_ != nullptr; }
  std::string module_path() const;
  // C_Initialize's pReserved for this token: "" for SoftHSMv2.
  std::string init_args() const;
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
  std::unique_ptr<NssSoftoken> nss_;  // ESCROW_TEST_PKCS11=nss only
  std::string label_;
  std::string pin_;
  std::filesystem::path pin_file_;
  std::filesystem::path token_dir_;
};

// Sleeps past hsm::kKeyRecheckInterval (with a margin): a KeyService works on session copies
// of its keys and sees a key or token that went away behind its back only after that.
void WaitPastKeyRecheck();

}  // namespace escrow::testing
