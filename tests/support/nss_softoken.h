#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "hsm/key_service.h"
#include "tests/support/temp_dir.h"

namespace escrow::testing {

// A fresh NSS softoken database (libnss3's libsoftokn3.so) for one test, made through PKCS#11
// alone: no certutil, nothing outside the test's temp dir. C_Initialize with
// init_args() (configdir='sql:DIR' ...) creates cert9.db and key4.db in the directory; a new
// database has an empty SO PIN and no user PIN, so C_Login(CKU_SO, "") then C_InitPIN sets the
// user PIN, as `certutil -N` would. The library is finalised again before the constructor
// returns, so that whoever uses the database next (a KeyService of this process with
// init_args(), or vaultctl and vaultd) initialises it with its own configuration.
//
// NSS's softoken takes one configuration per process: a database cannot be made while a
// KeyService of this process holds another one open. The library stays mapped
// (RTLD_NODELETE): it frees some state only at exit, which LeakSanitizer would otherwise
// report. Not thread-safe.
class NssSoftoken {
 public:
  static constexpr std::string_view kModulePath = "/usr/lib/x86_64-linux-gnu/libsoftokn3.so";
  static constexpr std::string_view kTokenLabel = "NSS Certificate DB";
  static constexpr std::string_view kTokenUri = "pkcs11:token=NSS%20Certificate%20DB";

  // Whether libsoftokn3 is installed (libnss3); tests skip with a WARN when it is not.
  static bool Available();

  NssSoftoken();  // throws std::runtime_error if the database cannot be made
  NssSoftoken(const NssSoftoken&) = delete;  // one owner per database directory
  NssSoftoken& operator=(const NssSoftoken&) = delete;
  ~NssSoftoken() = default;

  std::string module_path() const { return std::string(kModulePath); }
  // C_Initialize's pReserved for this database.
  std::string init_args() const;
  std::string token_uri() const { return std::string(kTokenUri); }
  const std::string& pin() const { return pin_; }  // test PIN, not a secret
  std::string pin_file() const { return pin_file_.string(); }
  const std::filesystem::path& db_dir() const { return db_dir_; }
  // Module, token URI, user PIN file and init_args.
  hsm::HsmConfig config() const;

  // Writes `content` to a new 0600 file in this fixture's directory; returns its path.
  std::string WriteFile(std::string_view name, std::string_view content) const;

 private:
  TempDir dir_;
  std::filesystem::path db_dir_;
  std::string pin_;
  std::filesystem::path pin_file_;
};

// While it lives, the processes this test starts (vaultctl, vaultd) run without LeakSanitizer's
// check at exit: NSS's softoken keeps allocations past C_Finalize, and once the library is
// unloaded LeakSanitizer sees them from an unknown module, which no suppression can name (the
// test process itself keeps the library loaded, so tests/lsan.supp covers it there). Without
// the sanitizers it changes nothing. Set before any thread of the test starts.
class ChildrenSkipLeakCheck {
 public:
  ChildrenSkipLeakCheck();
  ChildrenSkipLeakCheck(const ChildrenSkipLeakCheck&) = delete;
  ChildrenSkipLeakCheck& operator=(const ChildrenSkipLeakCheck&) = delete;
  ChildrenSkipLeakCheck(ChildrenSkipLeakCheck&&) = delete;
  ChildrenSkipLeakCheck& operator=(ChildrenSkipLeakCheck&&) = delete;
  ~ChildrenSkipLeakCheck();

 private:
  std::optional<std::string> old_;
};

}  // namespace escrow::testing
