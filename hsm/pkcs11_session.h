#pragma once

// One PKCS#11 session and one temporary object. Private to hsm/: includes pkcs11.h.

#include <memory>
#include <string_view>

#include <p11-kit/pkcs11.h>

#include "base/result.h"
#include "base/secret_bytes.h"
#include "hsm/pkcs11_module.h"

namespace escrow::hsm {

// One session on one slot. Holds a reference to its module, so the library stays initialised
// while the session is open. Every call made on the session reports its CK_RV through Check(),
// which remembers the last failure: the owner drops the session when that failure says the
// session or token is gone. Not thread-safe: one caller at a time (KeyService's lane).
class Pkcs11Session {
 public:
  // Opens a serial session, read-write if `read_write`. kUnavailable if the slot or token is
  // gone or the token has no free session.
  static Result<Pkcs11Session> Open(std::shared_ptr<Pkcs11Module> module, CK_SLOT_ID slot,
                                    bool read_write);

  Pkcs11Session(Pkcs11Session&& other) noexcept;
  Pkcs11Session& operator=(Pkcs11Session&& other) noexcept;
  Pkcs11Session(const Pkcs11Session&) = delete;  // two owners would close it twice
  Pkcs11Session& operator=(const Pkcs11Session&) = delete;
  // C_CloseSession. Deliberately no C_Logout: PKCS#11 login state belongs to the whole
  // application on a token, so logging out here would log out every other session the process
  // has on it (another KeyService, a ceremony tool). Closing the last session logs out anyway.
  ~Pkcs11Session();

  // C_Login. CKR_USER_ALREADY_LOGGED_IN (another session of this process logged in) is OK.
  // kUnauthenticated: wrong or locked PIN.
  Status Login(CK_USER_TYPE user, const SecretBytes& pin);

  // FromCkRv(rv, call), remembering a failure as last_error().
  Status Check(CK_RV rv, std::string_view call);
  CK_RV last_error() const { return last_error_; }
  void ClearLastError() { last_error_ = CKR_OK; }

  CK_FUNCTION_LIST* fns() const { return module_->fns(); }
  CK_SESSION_HANDLE handle() const { return handle_; }
  CK_SLOT_ID slot() const { return slot_; }

 private:
  Pkcs11Session(std::shared_ptr<Pkcs11Module> module, CK_SLOT_ID slot, CK_SESSION_HANDLE handle)
      : module_(std::move(module)), slot_(slot), handle_(handle) {}
  void Close() noexcept;

  std::shared_ptr<Pkcs11Module> module_;
  CK_SLOT_ID slot_ = 0;
  CK_SESSION_HANDLE handle_ = CK_INVALID_HANDLE;
  CK_RV last_error_ = CKR_OK;
};

// A session object (CKA_TOKEN false) that is destroyed with C_DestroyObject when this goes.
// The session must outlive it. Not thread-safe.
class ScopedObject {
 public:
  ScopedObject(Pkcs11Session& session, CK_OBJECT_HANDLE handle)
      : session_(&session), handle_(handle) {}
  ScopedObject(const ScopedObject&) = delete;  // two owners would destroy it twice
  ScopedObject& operator=(const ScopedObject&) = delete;
  ScopedObject(ScopedObject&&) = delete;
  ScopedObject& operator=(ScopedObject&&) = delete;
  ~ScopedObject();
  CK_OBJECT_HANDLE get() const { return handle_; }

 private:
  Pkcs11Session* session_;
  CK_OBJECT_HANDLE handle_;
};

}  // namespace escrow::hsm
