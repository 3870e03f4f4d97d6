#include "hsm/pkcs11_session.h"

#include <utility>

#include "base/log.h"
#include "hsm/ck_error.h"

namespace escrow::hsm {

Result<Pkcs11Session> Pkcs11Session::Open(std::shared_ptr<Pkcs11Module> module, CK_SLOT_ID slot,
                                          bool read_write) {
  CK_FLAGS flags = CKF_SERIAL_SESSION;
  if (read_write) flags |= CKF_RW_SESSION;
  CK_SESSION_HANDLE handle = CK_INVALID_HANDLE;
  const CK_RV rv = module->fns()->C_OpenSession(slot, flags, nullptr, nullptr, &handle);
  if (rv != CKR_OK) {
    Status s = FromCkRv(rv, "C_OpenSession");
    // A slot that vanished or a token that cannot be opened means the HSM is not available.
    if (s.code() != Code::kUnauthenticated) return Status::Unavailable(s.message());
    return s;
  }
  return Pkcs11Session(std::move(module), slot, handle);
}

Pkcs11Session::Pkcs11Session(Pkcs11Session&& other) noexcept
    : module_(std::move(other.module_)),
      slot_(other.slot_),
      handle_(std::exchange(other.handle_, CK_INVALID_HANDLE)),
      last_error_(other.last_error_) {}

Pkcs11Session& Pkcs11Session::operator=(Pkcs11Session&& other) noexcept {
  if (this != &other) {
    Close();
    module_ = std::move(other.module_);
    slot_ = other.slot_;
    handle_ = std::exchange(other.handle_, CK_INVALID_HANDLE);
    last_error_ = other.last_error_;
  }
  return *this;
}

Pkcs11Session::~Pkcs11Session() { Close(); }

void Pkcs11Session::Close() noexcept {
  if (handle_ == CK_INVALID_HANDLE || module_ == nullptr) return;
  const CK_RV rv = module_->fns()->C_CloseSession(handle_);
  // A session on a lost token is already gone; anything else is worth a line in the log.
  if (rv != CKR_OK && !IsSessionLevelError(rv)) {
    LogJson({{"event", "pkcs11_cleanup_failed"}, {"call", "C_CloseSession"},
             {"error", CkRvName(rv)}});
  }
  handle_ = CK_INVALID_HANDLE;
}

Status Pkcs11Session::Login(CK_USER_TYPE user, const SecretBytes& pin) {
  const std::span<const std::uint8_t> bytes = pin.RevealSecret();
  // PKCS#11 takes a non-const pointer but does not write through it.
  const CK_RV rv = fns()->C_Login(handle_, user, const_cast<CK_UTF8CHAR*>(bytes.data()),  // NOLINT
                                  bytes.size());
  if (rv == CKR_USER_ALREADY_LOGGED_IN) return Status::Ok();
  return Check(rv, "C_Login");
}

Status Pkcs11Session::Check(CK_RV rv, std::string_view call) {
  if (rv != CKR_OK) last_error_ = rv;
  return FromCkRv(rv, call);
}

ScopedObject::~ScopedObject() {
  if (handle_ == CK_INVALID_HANDLE) return;
  const CK_RV rv = session_->fns()->C_DestroyObject(session_->handle(), handle_);
  // Session objects die with their session, so a lost session leaks nothing.
  if (rv != CKR_OK && !IsSessionLevelError(rv)) {
    LogJson({{"event", "pkcs11_cleanup_failed"}, {"call", "C_DestroyObject"},
             {"error", CkRvName(rv)}});
  }
}

}  // namespace escrow::hsm
