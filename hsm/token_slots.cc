#include "hsm/token_slots.h"

#include <cstddef>
#include <vector>

#include "hsm/ck_error.h"

namespace escrow::hsm {
namespace {

// PKCS#11 pads fixed-size text fields with blanks; some modules use NULs.
std::string TrimPadded(const CK_UTF8CHAR* field, std::size_t size) {
  std::string text(reinterpret_cast<const char*>(field), size);  // NOLINT: UTF-8 bytes
  const std::size_t end = text.find_last_not_of(std::string_view(" \0", 2));
  return end == std::string::npos ? std::string() : text.substr(0, end + 1);
}

TokenInfo Trimmed(const CK_TOKEN_INFO& info) {
  TokenInfo out;
  out.label = TrimPadded(info.label, sizeof info.label);
  out.serial = TrimPadded(info.serialNumber, sizeof info.serialNumber);
  out.manufacturer = TrimPadded(info.manufacturerID, sizeof info.manufacturerID);
  out.model = TrimPadded(info.model, sizeof info.model);
  return out;
}

Status Unavailable(const Status& s) {
  return s.code() == Code::kUnavailable ? s : Status::Unavailable(s.message());
}

Result<std::vector<CK_SLOT_ID>> SlotsWithToken(const Pkcs11Module& module) {
  CK_ULONG n = 0;
  if (Status s = FromCkRv(module.fns()->C_GetSlotList(CK_TRUE, nullptr, &n), "C_GetSlotList");
      !s.ok()) {
    return Unavailable(s);
  }
  std::vector<CK_SLOT_ID> slots(n);
  // The list can grow between the two calls (a token was initialised or plugged in).
  CK_RV rv = CKR_BUFFER_TOO_SMALL;
  while (rv == CKR_BUFFER_TOO_SMALL) {
    n = slots.size();
    rv = module.fns()->C_GetSlotList(CK_TRUE, slots.data(), &n);
    if (rv == CKR_BUFFER_TOO_SMALL) slots.resize(n + 1);
  }
  if (Status s = FromCkRv(rv, "C_GetSlotList"); !s.ok()) return Unavailable(s);
  slots.resize(n);
  return slots;
}

}  // namespace

Status ValidateTokenLabel(std::string_view label) {
  if (label.empty() || label.size() > 32) {
    return Status::InvalidArgument("token label must be 1 to 32 bytes");
  }
  return Status::Ok();
}

Result<TokenInfo> ReadTokenInfo(const Pkcs11Module& module, CK_SLOT_ID slot) {
  CK_TOKEN_INFO info{};
  if (Status s = FromCkRv(module.fns()->C_GetTokenInfo(slot, &info), "C_GetTokenInfo");
      !s.ok()) {
    return Unavailable(s);
  }
  return Trimmed(info);
}

Result<CK_SLOT_ID> FindTokenSlot(const Pkcs11Module& module, const TokenSelector& token) {
  ESCROW_ASSIGN_OR_RETURN(std::vector<CK_SLOT_ID> slots, SlotsWithToken(module));
  std::vector<CK_SLOT_ID> matches;
  for (const CK_SLOT_ID slot : slots) {
    CK_TOKEN_INFO info{};
    // A token that disappears between the calls is simply not a match.
    if (module.fns()->C_GetTokenInfo(slot, &info) != CKR_OK) continue;
    if ((info.flags & CKF_TOKEN_INITIALIZED) == 0) continue;
    if (token.Matches(slot, Trimmed(info))) matches.push_back(slot);
  }
  const std::string name = token.token && token.Describe() == *token.token
                               ? "labelled " + *token.token
                               : token.Describe();
  if (matches.empty()) return Status::Unavailable("no token " + name + " in " + module.path());
  if (matches.size() > 1) {
    return Status::FailedPrecondition(std::to_string(matches.size()) + " tokens " + name + " in " +
                                      module.path());
  }
  return matches.front();
}

Result<CK_SLOT_ID> FindTokenSlot(const Pkcs11Module& module, std::string_view label) {
  ESCROW_ASSIGN_OR_RETURN(const TokenSelector token, TokenByLabel(label));
  return FindTokenSlot(module, token);
}

Result<CK_SLOT_ID> FindUninitializedTokenSlot(const Pkcs11Module& module) {
  ESCROW_ASSIGN_OR_RETURN(std::vector<CK_SLOT_ID> slots, SlotsWithToken(module));
  for (const CK_SLOT_ID slot : slots) {
    CK_TOKEN_INFO info{};
    if (module.fns()->C_GetTokenInfo(slot, &info) != CKR_OK) continue;
    if ((info.flags & CKF_TOKEN_INITIALIZED) == 0) return slot;
  }
  return Status::FailedPrecondition("no slot with an uninitialised token in " + module.path());
}

Status CheckSessionAlive(Pkcs11Session& session, const TokenSelector& token) {
  CK_SESSION_INFO info{};
  ESCROW_RETURN_IF_ERROR(
      session.Check(session.fns()->C_GetSessionInfo(session.handle(), &info), "C_GetSessionInfo"));
  if (info.state != CKS_RW_USER_FUNCTIONS && info.state != CKS_RO_USER_FUNCTIONS) {
    return session.Check(CKR_USER_NOT_LOGGED_IN, "C_GetSessionInfo");
  }
  CK_TOKEN_INFO present{};
  const CK_RV rv = session.fns()->C_GetTokenInfo(session.slot(), &present);
  if (rv != CKR_OK) return session.Check(IsSessionLevelError(rv) ? rv : CKR_TOKEN_NOT_PRESENT,
                                         "C_GetTokenInfo");
  if ((present.flags & CKF_TOKEN_INITIALIZED) == 0 ||
      !token.Matches(session.slot(), Trimmed(present))) {
    return session.Check(CKR_TOKEN_NOT_PRESENT, "C_GetTokenInfo");
  }
  return Status::Ok();
}

}  // namespace escrow::hsm
