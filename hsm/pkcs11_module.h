#pragma once

// A loaded PKCS#11 library. Private to hsm/: includes pkcs11.h.

#include <memory>
#include <string>

#include <p11-kit/pkcs11.h>

#include "base/result.h"

namespace escrow::hsm {

// One PKCS#11 library: dlopen, C_GetFunctionList and C_Initialize (CKF_OS_LOCKING_OK), undone
// in reverse (C_Finalize, dlclose) when the last reference goes.
//
// PKCS#11 state belongs to the process, not to a caller: a second C_Initialize answers
// CKR_CRYPTOKI_ALREADY_INITIALIZED and one C_Finalize ends every session of every user. So
// Acquire() hands out shared references to the one instance per library path, and a session
// holds one while it is open. Thread-safe: the function list is immutable after loading and the
// library runs with OS locking.
class Pkcs11Module {
 public:
  // kUnavailable if the library cannot be loaded, has no C_GetFunctionList or fails
  // C_Initialize; the message names the path and the dlerror() or CKR_ code. `init_args`, if
  // not empty, goes to C_Initialize as pReserved (NSS's softoken reads its configuration
  // there: configdir='sql:DIR' ...); kFailedPrecondition if the library is loaded already
  // with other init_args (one C_Initialize per process).
  static Result<std::shared_ptr<Pkcs11Module>> Acquire(const std::string& path,
                                                       const std::string& init_args = "");

  Pkcs11Module(const Pkcs11Module&) = delete;  // one C_Finalize per C_Initialize
  Pkcs11Module& operator=(const Pkcs11Module&) = delete;
  Pkcs11Module(Pkcs11Module&&) = delete;  // shared by address (Acquire)
  Pkcs11Module& operator=(Pkcs11Module&&) = delete;
  ~Pkcs11Module();  // C_Finalize (if we initialised it), then dlclose

  // C_Finalize, then C_Initialize: the library forgets every session and login and scans its
  // tokens again (SoftHSMv2 sees a token directory that vanished and came back only then).
  // Since that ends every session of the library in the process, it is allowed only to the
  // library's sole user: kFailedPrecondition unless this module initialised the library and
  // `module` is the only reference Acquire()d to it, without copies (no session open).
  // kUnavailable if C_Initialize fails; a later Reinitialize may still succeed.
  static Status Reinitialize(const std::shared_ptr<Pkcs11Module>& module);

  CK_FUNCTION_LIST* fns() const { return fns_; }
  const std::string& path() const { return path_; }

 private:
  struct Registry;
  Pkcs11Module(std::string path, std::string init_args, void* library, CK_FUNCTION_LIST* fns,
               bool finalize)
      : path_(std::move(path)),
        init_args_(std::move(init_args)),
        library_(library),
        fns_(fns),
        finalize_(finalize) {}
  static void Release(Pkcs11Module* module) noexcept;

  std::string path_;
  std::string init_args_;             // C_Initialize's pReserved; kept for Reinitialize
  void* library_ = nullptr;           // dlopen handle
  CK_FUNCTION_LIST* fns_ = nullptr;   // owned by the library
  bool finalize_ = false;             // false if someone else in the process initialised it
  bool uninitialized_ = false;        // Reinitialize finalised it and C_Initialize failed
};

}  // namespace escrow::hsm
