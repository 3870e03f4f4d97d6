#include "hsm/token_init.h"

#include <array>
#include <cstring>

#include "hsm/ck_error.h"
#include "hsm/pkcs11_module.h"
#include "hsm/pkcs11_session.h"
#include "hsm/token_slots.h"
#include "hsm/token_sync.h"

namespace escrow::hsm {
namespace {

CK_UTF8CHAR* PinPtr(const SecretBytes& pin) {
  // PKCS#11 takes non-const pointers but does not write through them.
  return const_cast<CK_UTF8CHAR*>(pin.RevealSecret().data());  // NOLINT
}

}  // namespace

Status InitializeToken(const std::string& module_path, const std::string& label,
                       const SecretBytes& so_pin, const SecretBytes& user_pin,
                       const std::string& init_args) {
  ESCROW_RETURN_IF_ERROR(ValidateTokenLabel(label));
  if (so_pin.empty() || user_pin.empty()) return Status::InvalidArgument("empty PIN");
  ESCROW_ASSIGN_OR_RETURN(std::shared_ptr<Pkcs11Module> module,
                          Pkcs11Module::Acquire(module_path, init_args));
  Result<CK_SLOT_ID> existing = FindTokenSlot(*module, label);
  if (existing.ok() || existing.status().code() == Code::kFailedPrecondition) {
    return Status::AlreadyExists("a token labelled " + label + " already exists");
  }
  ESCROW_ASSIGN_OR_RETURN(CK_SLOT_ID slot, FindUninitializedTokenSlot(*module));

  std::array<CK_UTF8CHAR, 32> padded{};
  padded.fill(' ');
  std::memcpy(padded.data(), label.data(), label.size());
  ESCROW_RETURN_IF_ERROR(FromCkRv(
      module->fns()->C_InitToken(slot, PinPtr(so_pin), so_pin.size(), padded.data()),
      "C_InitToken"));
  // SoftHSMv2 moves a newly initialised token to another slot: look it up again.
  ESCROW_ASSIGN_OR_RETURN(slot, FindTokenSlot(*module, label));
  ESCROW_ASSIGN_OR_RETURN(TokenInfo info, ReadTokenInfo(*module, slot));
  {
    ESCROW_ASSIGN_OR_RETURN(Pkcs11Session session, Pkcs11Session::Open(module, slot, true));
    ESCROW_RETURN_IF_ERROR(session.Login(CKU_SO, so_pin));
    Status init_pin = session.Check(
        session.fns()->C_InitPIN(session.handle(), PinPtr(user_pin), user_pin.size()),
        "C_InitPIN");
    // The SO session must not outlive set-up, even if C_InitPIN failed.
    Status logout = session.Check(session.fns()->C_Logout(session.handle()), "C_Logout");
    ESCROW_RETURN_IF_ERROR(init_pin);
    ESCROW_RETURN_IF_ERROR(logout);
  }
  return SyncSoftHsmTokenDir(info.serial);
}

Result<std::string> TokenSerial(const std::string& module_path, const std::string& label) {
  return TokenSerial(HsmConfig{module_path, label, {}, {}, {}});
}

Result<std::string> TokenSerial(const HsmConfig& config) {
  ESCROW_ASSIGN_OR_RETURN(const TokenSelector token,
                          SelectToken(config.token_label, config.token_uri));
  ESCROW_ASSIGN_OR_RETURN(std::shared_ptr<Pkcs11Module> module,
                          Pkcs11Module::Acquire(config.module_path, config.init_args));
  ESCROW_ASSIGN_OR_RETURN(CK_SLOT_ID slot, FindTokenSlot(*module, token));
  ESCROW_ASSIGN_OR_RETURN(TokenInfo info, ReadTokenInfo(*module, slot));
  return info.serial;
}

}  // namespace escrow::hsm
