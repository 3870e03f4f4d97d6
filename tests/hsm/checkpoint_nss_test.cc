// The audit checkpoint on a module that keeps no private data objects: NSS's softoken
// (libnss3), whose C_CreateObject refuses private and token data objects
// (CKR_ATTRIBUTE_VALUE_INVALID). The test initialises the library itself first, so that it can
// count the token's data objects through a session of its own after the KeyService is gone;
// the KeyService, opened without init_args, then shares it (CKR_CRYPTOKI_ALREADY_INITIALIZED,
// see Pkcs11Module). tests/support/nss_softoken.h makes a database for a KeyService of its
// own (key_service_nss_test.cc).

#include <dlfcn.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include <catch2/catch.hpp>
#include <p11-kit/pkcs11.h>

#include "hsm/key_service.h"
#include "tests/support/temp_dir.h"

namespace escrow::hsm {
namespace {

constexpr const char* kSoftokn = "/usr/lib/x86_64-linux-gnu/libsoftokn3.so";
constexpr const char* kNssToken = "NSS Certificate DB";
constexpr const char* kNssPin = "nss-user-pin";

// The softoken, initialised on a fresh database in `dir`, with the user PIN set; finalised and
// unloaded when this goes (after every KeyService on it is gone).
class NssSoftoken {
 public:
  explicit NssSoftoken(const std::filesystem::path& dir) {
    // RTLD_NODELETE: the softoken frees some of its state only at process exit, and
    // unloaded before then, LeakSanitizer reports that state as leaks from an unknown module.
    library_ = dlopen(kSoftokn, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    REQUIRE(library_ != nullptr);
    auto get_list = reinterpret_cast<CK_C_GetFunctionList>(  // NOLINT: dlsym's POSIX contract
        dlsym(library_, "C_GetFunctionList"));
    REQUIRE(get_list != nullptr);
    REQUIRE(get_list(&fns_) == CKR_OK);
    params_ =
        "configdir='sql:" + dir.string() + "' certPrefix='' keyPrefix='' secmod='secmod.db' flags=";
    CK_C_INITIALIZE_ARGS args{};
    args.flags = CKF_OS_LOCKING_OK;
    args.pReserved = params_.data();
    REQUIRE(fns_->C_Initialize(&args) == CKR_OK);
    initialised_ = true;
    SetUserPin();
  }
  NssSoftoken(const NssSoftoken&) = delete;  // one C_Finalize per C_Initialize
  NssSoftoken& operator=(const NssSoftoken&) = delete;
  NssSoftoken(NssSoftoken&&) = delete;
  NssSoftoken& operator=(NssSoftoken&&) = delete;
  ~NssSoftoken() {
    if (initialised_) (void)fns_->C_Finalize(nullptr);
    if (library_ != nullptr) dlclose(library_);
  }

  // How many data objects the token holds, as the user sees them.
  CK_ULONG DataObjects() {
    const CK_SESSION_HANDLE session = UserSession();
    CK_OBJECT_CLASS cls = CKO_DATA;
    CK_ATTRIBUTE attr{CKA_CLASS, &cls, sizeof cls};
    REQUIRE(fns_->C_FindObjectsInit(session, &attr, 1) == CKR_OK);
    CK_OBJECT_HANDLE found[8];
    CK_ULONG n = 0;
    REQUIRE(fns_->C_FindObjects(session, found, 8, &n) == CKR_OK);
    (void)fns_->C_FindObjectsFinal(session);
    (void)fns_->C_CloseSession(session);
    return n;
  }

 private:
  CK_SLOT_ID TokenSlot() {
    CK_SLOT_ID slots[8];
    CK_ULONG n = 8;
    REQUIRE(fns_->C_GetSlotList(CK_TRUE, slots, &n) == CKR_OK);
    for (CK_ULONG i = 0; i < n; ++i) {
      CK_TOKEN_INFO info{};
      REQUIRE(fns_->C_GetTokenInfo(slots[i], &info) == CKR_OK);
      if (std::string(reinterpret_cast<const char*>(info.label), sizeof info.label)  // NOLINT
              .starts_with(kNssToken)) {
        return slots[i];
      }
    }
    FAIL("no " << kNssToken << " slot");
    return 0;
  }

  // A fresh database has an empty SO PIN and no user PIN: set one, as certutil -N would.
  void SetUserPin() {
    CK_SESSION_HANDLE session = CK_INVALID_HANDLE;
    REQUIRE(fns_->C_OpenSession(TokenSlot(), CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr,
                                &session) == CKR_OK);
    REQUIRE(fns_->C_Login(session, CKU_SO, nullptr, 0) == CKR_OK);
    std::string pin = kNssPin;
    REQUIRE(fns_->C_InitPIN(session, reinterpret_cast<CK_UTF8CHAR*>(pin.data()),  // NOLINT
                            pin.size()) == CKR_OK);
    (void)fns_->C_Logout(session);
    (void)fns_->C_CloseSession(session);
  }

  CK_SESSION_HANDLE UserSession() {
    CK_SESSION_HANDLE session = CK_INVALID_HANDLE;
    REQUIRE(fns_->C_OpenSession(TokenSlot(), CKF_SERIAL_SESSION, nullptr, nullptr, &session) ==
            CKR_OK);
    std::string pin = kNssPin;
    const CK_RV rv = fns_->C_Login(session, CKU_USER,
                                   reinterpret_cast<CK_UTF8CHAR*>(pin.data()),  // NOLINT
                                   pin.size());
    REQUIRE((rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN));
    return session;
  }

  void* library_ = nullptr;
  CK_FUNCTION_LIST* fns_ = nullptr;
  std::string params_;
  bool initialised_ = false;
};

TEST_CASE("On NSS's softoken the checkpoint is kNoDataObjects from both calls and nothing is kept",
          "[hsm][checkpoint][nss]") {
  if (!std::filesystem::exists(kSoftokn)) {
    WARN("SKIPPED: " << kSoftokn << " is not installed (libnss3; scripts/install-deps.sh)");
    return;
  }
  testing::TempDir dir;
  NssSoftoken nss(dir.path());
  const std::filesystem::path pin_file = dir.path() / "user.pin";
  {
    // Written by hand: SoftHsmToken::WriteFile belongs to a SoftHSMv2 fixture.
    std::FILE* f = std::fopen(pin_file.c_str(), "w");
    REQUIRE(f != nullptr);
    REQUIRE(std::fputs(kNssPin, f) >= 0);
    REQUIRE(std::fclose(f) == 0);
    std::filesystem::permissions(
        pin_file, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  }
  Result<std::unique_ptr<KeyService>> keys =
      KeyService::Open({kSoftokn, kNssToken, pin_file.string(), {}});
  INFO(keys.status().ToString());
  REQUIRE(keys.ok());

  Result<std::optional<Bytes>> read = (*keys)->ReadCheckpoint();
  INFO(read.status().ToString());
  CHECK(read.status().code() == Code::kFailedPrecondition);
  CHECK(read.status().reason() == kNoDataObjects);

  const Bytes value = {'h', 'e', 'a', 'd'};
  const Status write = (*keys)->WriteCheckpoint(value);
  INFO(write.ToString());
  CHECK(write.code() == Code::kFailedPrecondition);
  CHECK(write.reason() == kNoDataObjects);
  CHECK_THAT(write.message(), Catch::Contains("CKR_ATTRIBUTE_VALUE_INVALID"));

  // Still answered the same after the write's refusal, and the module still works otherwise.
  CHECK((*keys)->ReadCheckpoint().status().reason() == kNoDataObjects);
  CHECK((*keys)->ListKeys().ok());
  keys->reset();
  CHECK(nss.DataObjects() == 0);
}

}  // namespace
}  // namespace escrow::hsm
