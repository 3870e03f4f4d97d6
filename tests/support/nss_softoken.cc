#include "tests/support/nss_softoken.h"

#include <cstdlib>

#include <dlfcn.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <vector>

#include <p11-kit/pkcs11.h>

namespace escrow::testing {
namespace {

std::string Rv(const char* call, CK_RV rv) {
  std::ostringstream out;
  out << call << " answered 0x" << std::hex << rv;
  return out.str();
}

void Require(CK_RV rv, const char* call) {
  if (rv != CKR_OK) throw std::runtime_error("NSS softoken set-up: " + Rv(call, rv));
}

CK_FUNCTION_LIST* FunctionList() {
  // RTLD_NODELETE: see the class comment. The handle is never closed (the mapping stays).
  void* library =
      dlopen(std::string(NssSoftoken::kModulePath).c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
  if (library == nullptr) throw std::runtime_error("cannot load the NSS softoken");
  auto get_list = reinterpret_cast<CK_C_GetFunctionList>(  // NOLINT: dlsym's POSIX contract
      dlsym(library, "C_GetFunctionList"));
  if (get_list == nullptr) throw std::runtime_error("the NSS softoken has no C_GetFunctionList");
  CK_FUNCTION_LIST* fns = nullptr;
  Require(get_list(&fns), "C_GetFunctionList");
  return fns;
}

CK_SLOT_ID TokenSlot(CK_FUNCTION_LIST* fns) {
  CK_ULONG n = 0;
  Require(fns->C_GetSlotList(CK_TRUE, nullptr, &n), "C_GetSlotList");
  std::vector<CK_SLOT_ID> slots(n);
  Require(fns->C_GetSlotList(CK_TRUE, slots.data(), &n), "C_GetSlotList");
  for (CK_ULONG i = 0; i < n; ++i) {
    CK_TOKEN_INFO info{};
    Require(fns->C_GetTokenInfo(slots[i], &info), "C_GetTokenInfo");
    const std::string label(reinterpret_cast<const char*>(info.label),  // NOLINT: UTF-8 bytes
                            sizeof info.label);
    if (label.starts_with(NssSoftoken::kTokenLabel)) return slots[i];
  }
  throw std::runtime_error("no slot holds the NSS Certificate DB token");
}

// A fresh database: the SO logs in with the empty PIN and sets the user PIN.
void SetUserPin(CK_FUNCTION_LIST* fns, std::string pin) {
  CK_SESSION_HANDLE session = CK_INVALID_HANDLE;
  Require(fns->C_OpenSession(TokenSlot(fns), CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr,
                             &session),
          "C_OpenSession");
  CK_RV rv = fns->C_Login(session, CKU_SO, nullptr, 0);
  if (rv == CKR_OK) {
    rv = fns->C_InitPIN(session, reinterpret_cast<CK_UTF8CHAR*>(pin.data()),  // NOLINT
                        pin.size());
    (void)fns->C_Logout(session);
  }
  (void)fns->C_CloseSession(session);
  Require(rv, "C_Login(SO) or C_InitPIN");
}

}  // namespace

bool NssSoftoken::Available() { return std::filesystem::exists(kModulePath); }

NssSoftoken::NssSoftoken()
    : db_dir_(dir_.path() / "nssdb"),
      pin_("nss-test-user-pin"),
      pin_file_(dir_.path() / "user.pin") {
  std::filesystem::create_directories(db_dir_);
  std::filesystem::permissions(db_dir_, std::filesystem::perms::owner_all);
  CK_FUNCTION_LIST* fns = FunctionList();
  std::string params = init_args();
  CK_C_INITIALIZE_ARGS args{};
  args.flags = CKF_OS_LOCKING_OK;
  args.pReserved = params.data();
  const CK_RV rv = fns->C_Initialize(&args);
  if (rv == CKR_CRYPTOKI_ALREADY_INITIALIZED) {
    throw std::runtime_error(
        "the NSS softoken is initialised already in this process (a KeyService on another "
        "database is open): one database per process at a time");
  }
  Require(rv, "C_Initialize");
  try {
    SetUserPin(fns, pin_);
  } catch (...) {
    (void)fns->C_Finalize(nullptr);
    throw;
  }
  Require(fns->C_Finalize(nullptr), "C_Finalize");
  (void)WriteFile("user.pin", pin_);
}

std::string NssSoftoken::init_args() const {
  return "configdir='sql:" + db_dir_.string() +
         "' certPrefix='' keyPrefix='' secmod='secmod.db' flags=";
}

hsm::HsmConfig NssSoftoken::config() const {
  hsm::HsmConfig config{module_path(), "", pin_file(), {}};
  config.token_uri = token_uri();
  config.init_args = init_args();
  return config;
}

std::string NssSoftoken::WriteFile(std::string_view name, std::string_view content) const {
  const std::filesystem::path path = dir_.path() / name;
  {
    std::ofstream out(path, std::ios::trunc);
    out << content;
    if (!out) throw std::runtime_error("cannot write " + path.string());
  }
  std::filesystem::permissions(
      path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  return path.string();
}

ChildrenSkipLeakCheck::ChildrenSkipLeakCheck() {
  const char* old = std::getenv("ASAN_OPTIONS");  // NOLINT(concurrency-mt-unsafe): no threads yet
  if (old != nullptr) old_ = old;
  const std::string value = (old_ ? *old_ + ":" : std::string()) + "detect_leaks=0";
  (void)setenv("ASAN_OPTIONS", value.c_str(), 1);  // NOLINT(concurrency-mt-unsafe)
}

ChildrenSkipLeakCheck::~ChildrenSkipLeakCheck() {
  if (old_) {
    (void)setenv("ASAN_OPTIONS", old_->c_str(), 1);  // NOLINT(concurrency-mt-unsafe)
  } else {
    (void)unsetenv("ASAN_OPTIONS");  // NOLINT(concurrency-mt-unsafe)
  }
}

}  // namespace escrow::testing
