#include "hsm/pkcs11_module.h"

#include <dlfcn.h>

#include <filesystem>
#include <map>
#include <mutex>
#include <system_error>
#include <utility>

#include "base/log.h"
#include "hsm/ck_error.h"

namespace escrow::hsm {

// Reference counts per canonical library path. Acquire and Release take the same mutex, so a
// library is never initialised again while its last user is still finalising it.
struct Pkcs11Module::Registry {
  struct Entry {
    std::unique_ptr<Pkcs11Module> module;
    int refs = 0;
  };
  std::mutex mu;
  std::map<std::string, Entry> entries;  // guarded by mu

  static Registry& Get() {
    // Leaked on purpose: modules may be released from other static destructors.
    static Registry* registry = new Registry;  // NOLINT(cppcoreguidelines-owning-memory)
    return *registry;
  }
};

namespace {

std::string CanonicalPath(const std::string& path) {
  std::error_code ec;
  std::filesystem::path canonical = std::filesystem::canonical(path, ec);
  return ec ? path : canonical.string();
}

// C_Initialize with OS locking (our sessions may be used from any thread) and, if given, the
// module's own configuration string in pReserved (PKCS#11 2.40 leaves its meaning to the
// module; NSS's softoken needs it).
CK_RV Initialize(CK_FUNCTION_LIST* list, const std::string& init_args) {
  CK_C_INITIALIZE_ARGS args{};
  args.flags = CKF_OS_LOCKING_OK;
  std::string reserved = init_args;  // the module takes a non-const pointer
  if (!reserved.empty()) args.pReserved = reserved.data();
  return list->C_Initialize(&args);
}

Status LoadModule(const std::string& path, const std::string& init_args, void** library,
                  CK_FUNCTION_LIST** fns, bool* finalize) {
  dlerror();
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* err = dlerror();
    return Status::Unavailable("cannot load PKCS#11 module " + path + ": " +
                               (err != nullptr ? err : "dlopen failed"));
  }
  // POSIX guarantees that a data pointer from dlsym converts to a function pointer.
  auto get_list = reinterpret_cast<CK_C_GetFunctionList>(  // NOLINT
      dlsym(handle, "C_GetFunctionList"));
  if (get_list == nullptr) {
    dlclose(handle);
    return Status::Unavailable("PKCS#11 module " + path + " has no C_GetFunctionList");
  }
  CK_FUNCTION_LIST* list = nullptr;
  if (Status s = FromCkRv(get_list(&list), "C_GetFunctionList"); !s.ok() || list == nullptr) {
    dlclose(handle);
    return Status::Unavailable("PKCS#11 module " + path + ": " +
                               (s.ok() ? "C_GetFunctionList returned no list" : s.message()));
  }
  const CK_RV rv = Initialize(list, init_args);
  if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
    dlclose(handle);
    return Status::Unavailable("PKCS#11 module " + path + ": " +
                               FromCkRv(rv, "C_Initialize").message());
  }
  *library = handle;
  *fns = list;
  *finalize = rv == CKR_OK;
  return Status::Ok();
}

}  // namespace

Result<std::shared_ptr<Pkcs11Module>> Pkcs11Module::Acquire(const std::string& path,
                                                            const std::string& init_args) {
  if (path.empty()) return Status::InvalidArgument("no PKCS#11 module path configured");
  const std::string key = CanonicalPath(path);
  Registry& registry = Registry::Get();
  std::lock_guard<std::mutex> lock(registry.mu);
  Registry::Entry& entry = registry.entries[key];
  if (entry.module == nullptr) {
    void* library = nullptr;
    CK_FUNCTION_LIST* fns = nullptr;
    bool finalize = false;
    if (Status s = LoadModule(path, init_args, &library, &fns, &finalize); !s.ok()) {
      registry.entries.erase(key);
      return s;
    }
    entry.module.reset(new Pkcs11Module(key, init_args, library, fns, finalize));
  } else if (entry.module->init_args_ != init_args) {
    // Its configuration was fixed by the first C_Initialize; another would be ignored silently.
    return Status::FailedPrecondition("PKCS#11 module " + path +
                                      " is loaded already with other init_args");
  }
  ++entry.refs;
  return std::shared_ptr<Pkcs11Module>(entry.module.get(), &Pkcs11Module::Release);
}

Status Pkcs11Module::Reinitialize(const std::shared_ptr<Pkcs11Module>& module) {
  if (module == nullptr) return Status::InvalidArgument("no PKCS#11 module");
  Registry& registry = Registry::Get();
  std::lock_guard<std::mutex> lock(registry.mu);
  auto it = registry.entries.find(module->path_);
  if (it == registry.entries.end() || it->second.module.get() != module.get() ||
      it->second.refs != 1 || module.use_count() != 1 || !module->finalize_) {
    return Status::FailedPrecondition("PKCS#11 module " + module->path_ +
                                      " is shared; not re-initialising it");
  }
  // Finalised by us with a C_Initialize that failed: only initialise. Finalised by anyone
  // else in the process (CKR_CRYPTOKI_NOT_INITIALIZED): theirs to bring back, not ours.
  if (!module->uninitialized_) {
    const CK_RV fin = module->fns_->C_Finalize(nullptr);
    if (fin != CKR_OK) {
      return Status::Unavailable("PKCS#11 module " + module->path_ + ": " +
                                 FromCkRv(fin, "C_Finalize").message());
    }
    module->uninitialized_ = true;
  }
  const CK_RV rv = Initialize(module->fns_, module->init_args_);
  if (rv != CKR_OK) {
    return Status::Unavailable("PKCS#11 module " + module->path_ + ": " +
                               FromCkRv(rv, "C_Initialize").message());
  }
  module->uninitialized_ = false;
  return Status::Ok();
}

void Pkcs11Module::Release(Pkcs11Module* module) noexcept {
  Registry& registry = Registry::Get();
  std::lock_guard<std::mutex> lock(registry.mu);
  auto it = registry.entries.find(module->path_);
  if (it == registry.entries.end() || it->second.module.get() != module) return;
  if (--it->second.refs == 0) registry.entries.erase(it);  // runs ~Pkcs11Module under the lock
}

Pkcs11Module::~Pkcs11Module() {
  if (finalize_ && !uninitialized_ && fns_ != nullptr) {
    if (const CK_RV rv = fns_->C_Finalize(nullptr); rv != CKR_OK) {
      LogJson({{"event", "pkcs11_cleanup_failed"}, {"call", "C_Finalize"}, {"module", path_},
               {"error", CkRvName(rv)}});
    }
  }
  if (library_ != nullptr) dlclose(library_);
}

}  // namespace escrow::hsm
