#include <dlfcn.h>

#include <array>
#include <cstdint>
#include <filesystem>

#include <catch2/catch.hpp>

#include "base/bytes.h"
#include "hsm/key_service.h"
#include "tests/hsm/key_service_fixture.h"
#include "tests/support/softhsm_token.h"

namespace escrow::hsm {
namespace {

using escrow::testing::SoftHsmToken;

constexpr std::array<std::uint8_t, 4> kPlaintext = {'r', 'k', '-', '1'};
constexpr std::array<std::uint8_t, 3> kAad = {'a', 'a', 'd'};

void RequireUnavailable(const Status& status) {
  INFO(status.ToString());
  REQUIRE(status.code() == Code::kUnavailable);
}

void RequireWorking(KeyService& keys, const Sealed& old_record) {
  Result<SecretBytes> opened = keys.Decrypt(1, old_record, kAad);
  INFO(opened.status().ToString());
  REQUIRE(opened.ok());
  CHECK(opened->size() == kPlaintext.size());
  Result<Sealed> sealed = keys.Encrypt(1, kPlaintext, kAad);
  REQUIRE(sealed.ok());
  CHECK(keys.Decrypt(1, *sealed, kAad).ok());
  CHECK(keys.Sign(hsm::KeyRole::kAudit, 1, kAad).ok());
}

TEST_CASE("A token whose directory is deleted mid-run is unavailable, not a data loss",
          "[hsm][recovery]") {
  ESCROW_SKIP_ON_NSS("SoftHSMv2's token directory");
  SoftHsmToken token;
  std::unique_ptr<KeyService> keys = OpenWithKeys(token);
  Result<Sealed> sealed = keys->Encrypt(1, kPlaintext, kAad);
  REQUIRE(sealed.ok());
  Result<Mac> mac = keys->Sign(hsm::KeyRole::kAudit, 1, kAad);
  REQUIRE(mac.ok());

  std::filesystem::remove_all(token.token_dir());
  testing::WaitPastKeyRecheck();  // keys in use are session copies, checked once per interval

  RequireUnavailable(keys->Decrypt(1, *sealed, kAad).status());
  RequireUnavailable(keys->Encrypt(1, kPlaintext, kAad).status());
  RequireUnavailable(keys->Sign(hsm::KeyRole::kAudit, 1, kAad).status());
  RequireUnavailable(keys->Verify(hsm::KeyRole::kAudit, 1, kAad, *mac));
  RequireUnavailable(keys->FindKey(KeyRole::kMaster, 1).status());
  RequireUnavailable(keys->ListKeys().status());
  RequireUnavailable(keys->Probe(1));
  RequireUnavailable(keys->GenerateKey(KeyRole::kMaster, 2, false).status());
  RequireUnavailable(KeyService::Open(token.config()).status());

  SECTION("a fresh token can be opened later, in the same process") {
    SoftHsmToken fresh;
    std::unique_ptr<KeyService> other = OpenWithKeys(fresh);
    Result<Sealed> record = other->Encrypt(1, kPlaintext, kAad);
    REQUIRE(record.ok());
    RequireWorking(*other, *record);
    // The lost token stays lost, and says so.
    RequireUnavailable(keys->Decrypt(1, *sealed, kAad).status());
  }
}

// Calls the module's exported C_Finalize and C_Initialize behind the KeyService's back: to the
// service this is an HSM that drops every session and login and later comes back.
class LibraryRestart {
 public:
  LibraryRestart()
      : library_(dlopen(std::string(SoftHsmToken::kModulePath).c_str(), RTLD_NOW | RTLD_NOLOAD)) {
    REQUIRE(library_ != nullptr);
  }
  LibraryRestart(const LibraryRestart&) = delete;
  LibraryRestart& operator=(const LibraryRestart&) = delete;
  LibraryRestart(LibraryRestart&&) = delete;
  LibraryRestart& operator=(LibraryRestart&&) = delete;
  ~LibraryRestart() { dlclose(library_); }

  unsigned long Finalize() {  // NOLINT(google-runtime-int): CK_RV
    auto fn = reinterpret_cast<unsigned long (*)(void*)>(dlsym(library_, "C_Finalize"));
    REQUIRE(fn != nullptr);
    return fn(nullptr);
  }
  unsigned long Initialize() {  // NOLINT(google-runtime-int): CK_RV
    // CK_C_INITIALIZE_ARGS with CKF_OS_LOCKING_OK (tests do not include pkcs11.h).
    struct {
      void* mutex_fns[4];
      unsigned long flags;  // NOLINT(google-runtime-int)
      void* reserved;
    } args{{nullptr, nullptr, nullptr, nullptr}, 2UL, nullptr};
    auto fn = reinterpret_cast<unsigned long (*)(void*)>(dlsym(library_, "C_Initialize"));
    REQUIRE(fn != nullptr);
    return fn(&args);
  }

 private:
  void* library_;
};

TEST_CASE("KeyService logs in again when the HSM comes back, without a restart",
          "[hsm][recovery]") {
  ESCROW_SKIP_ON_NSS("SoftHSMv2's token directory and library reload");
  SoftHsmToken token;
  std::unique_ptr<KeyService> keys = OpenWithKeys(token);
  Result<Sealed> sealed = keys->Encrypt(1, kPlaintext, kAad);
  REQUIRE(sealed.ok());
  LibraryRestart restart;

  SECTION("while the HSM is gone, calls are unavailable; then they work again") {
    REQUIRE(restart.Finalize() == 0);
    RequireUnavailable(keys->Decrypt(1, *sealed, kAad).status());
    RequireUnavailable(keys->Encrypt(1, kPlaintext, kAad).status());
    RequireUnavailable(keys->Sign(hsm::KeyRole::kAudit, 1, kAad).status());
    RequireUnavailable(keys->FindKey(KeyRole::kMaster, 1).status());
    RequireUnavailable(keys->Probe(1));
    REQUIRE(restart.Initialize() == 0);
    RequireWorking(*keys, *sealed);
  }
  SECTION("a session lost between two calls is replaced within the next call") {
    REQUIRE(restart.Finalize() == 0);
    REQUIRE(restart.Initialize() == 0);
    RequireWorking(*keys, *sealed);
  }
}

}  // namespace
}  // namespace escrow::hsm
