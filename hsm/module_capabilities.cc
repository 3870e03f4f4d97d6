#include "hsm/module_capabilities.h"

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "base/bytes.h"
#include "hsm/ck_error.h"
#include "hsm/data_object.h"
#include "hsm/token_crypto.h"

namespace escrow::hsm {
namespace {

constexpr std::size_t kCheckValueBytes = 3;
// The fixed input of a derived check value. The IV is fixed so that the value is the same
// every time; records use random IVs (OpenSSL's DRBG), so one equal to it has probability
// 2^-96, and its tag is never a record's.
constexpr std::array<std::uint8_t, kGcmIvBytes> kCheckIv = {'e', 's', 'c', 'r', 'o', 'w',
                                                            '-', 'k', 'c', 'v', 0,   1};
constexpr std::string_view kCheckBlock = "escrow-key-check-value/v1";

Status RequireMechanism(Pkcs11Session& session, CK_MECHANISM_TYPE type, CK_FLAGS flags,
                        std::string_view name, std::string_view use) {
  CK_MECHANISM_INFO info{};
  const CK_RV rv = session.fns()->C_GetMechanismInfo(session.slot(), type, &info);
  if (rv == CKR_MECHANISM_INVALID || (rv == CKR_OK && (info.flags & flags) != flags)) {
    return Status::FailedPrecondition("the PKCS#11 module offers no " + std::string(name) + " (" +
                                      std::string(use) + ") on this token; the vault needs it");
  }
  return session.Check(rv, "C_GetMechanismInfo");
}

// A session AES-256 key for the probes, destroyed with the ScopedObject.
Result<CK_OBJECT_HANDLE> ProbeKey(Pkcs11Session& session) {
  CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
  CK_KEY_TYPE type = CKK_AES;
  CK_ULONG length = 32;
  CK_BBOOL yes = CK_TRUE;
  CK_BBOOL no = CK_FALSE;
  CK_ATTRIBUTE attrs[] = {
      {CKA_CLASS, &cls, sizeof cls},
      {CKA_KEY_TYPE, &type, sizeof type},
      {CKA_VALUE_LEN, &length, sizeof length},
      {CKA_TOKEN, &no, sizeof no},
      {CKA_SENSITIVE, &yes, sizeof yes},
      {CKA_EXTRACTABLE, &no, sizeof no},
      {CKA_ENCRYPT, &yes, sizeof yes},
      {CKA_DECRYPT, &yes, sizeof yes},
      {CKA_WRAP_WITH_TRUSTED, &yes, sizeof yes},
  };
  CK_MECHANISM mechanism{CKM_AES_KEY_GEN, nullptr, 0};
  CK_OBJECT_HANDLE key = CK_INVALID_HANDLE;
  const CK_RV rv =
      session.fns()->C_GenerateKey(session.handle(), &mechanism, attrs, std::size(attrs), &key);
  ESCROW_RETURN_IF_ERROR(session.Check(rv, "C_GenerateKey"));
  return key;
}

Result<bool> HasCheckValue(Pkcs11Session& session, CK_OBJECT_HANDLE key) {
  CK_ATTRIBUTE attr{CKA_CHECK_VALUE, nullptr, 0};
  const CK_RV rv = session.fns()->C_GetAttributeValue(session.handle(), key, &attr, 1);
  if (rv == CKR_ATTRIBUTE_TYPE_INVALID || rv == CKR_ATTRIBUTE_SENSITIVE) return false;
  ESCROW_RETURN_IF_ERROR(session.Check(rv, "C_GetAttributeValue"));
  return attr.ulValueLen != CK_UNAVAILABLE_INFORMATION && attr.ulValueLen > 0;
}

// A CK_BBOOL attribute, or nullopt if the module has none for the object.
std::optional<bool> BoolOf(Pkcs11Session& session, CK_OBJECT_HANDLE object,
                           CK_ATTRIBUTE_TYPE type) {
  CK_BBOOL value = CK_FALSE;
  CK_ATTRIBUTE attr{type, &value, sizeof value};
  if (session.fns()->C_GetAttributeValue(session.handle(), object, &attr, 1) != CKR_OK) {
    return std::nullopt;
  }
  return value == CK_TRUE;
}

// Whether the module copies a key into a session object that keeps every protection of the
// original: sensitive, unextractable, wrap-with-trusted, always sensitive, never extractable.
// A copy that drops one (NSS's softoken drops CKA_WRAP_WITH_TRUSTED and CKA_ALWAYS_SENSITIVE)
// is not used: crypto then runs on the token objects.
Result<bool> CopiesKeys(Pkcs11Session& session, CK_OBJECT_HANDLE key) {
  CK_BBOOL no = CK_FALSE;
  CK_ATTRIBUTE attrs[] = {{CKA_TOKEN, &no, sizeof no}};
  CK_OBJECT_HANDLE handle = CK_INVALID_HANDLE;
  const CK_RV rv =
      session.fns()->C_CopyObject(session.handle(), key, attrs, std::size(attrs), &handle);
  if (rv != CKR_OK) {
    if (IsSessionLevelError(rv)) return session.Check(rv, "C_CopyObject");
    return false;
  }
  const ScopedObject copy(session, handle);
  for (const CK_ATTRIBUTE_TYPE type : {CKA_SENSITIVE, CKA_EXTRACTABLE, CKA_WRAP_WITH_TRUSTED,
                                       CKA_ALWAYS_SENSITIVE, CKA_NEVER_EXTRACTABLE}) {
    const std::optional<bool> original = BoolOf(session, key, type);
    if (original && BoolOf(session, copy.get(), type) != original) return false;
  }
  return true;
}

// A module's refusal of an operation on a key (as opposed to a lost session or token).
bool IsRefusal(CK_RV rv) {
  return rv != CKR_OK && !IsSessionLevelError(rv) && !IsStaleHandleError(rv);
}

std::string Truncated(std::span<const std::uint8_t> bytes) {
  return HexEncode(bytes.subspan(0, std::min(bytes.size(), kCheckValueBytes)));
}

}  // namespace

Result<std::string> DerivedCheckValue(Pkcs11Session& session, CK_OBJECT_HANDLE key, KeyRole role) {
  const std::span<const std::uint8_t> block = AsBytes(kCheckBlock);
  if (role == KeyRole::kMaster) {
    Result<Sealed> sealed = GcmEncryptWithIv(session, key, kCheckIv, {}, block);
    if (!sealed.ok()) {
      if (IsRefusal(session.last_error())) {
        session.ClearLastError();
        return Status::NotFound("the module refuses a GCM check value: " +
                                sealed.status().message());
      }
      return sealed.status();
    }
    return Truncated(sealed->tag);
  }
  Result<Mac> mac = HmacSign(session, key, block);
  if (!mac.ok()) {
    if (IsRefusal(session.last_error())) {
      session.ClearLastError();
      return Status::NotFound("the module refuses an HMAC check value: " + mac.status().message());
    }
    return mac.status();
  }
  return Truncated(*mac);
}

Result<ModuleCapabilities> DetectCapabilities(Pkcs11Session& session, const TokenInfo& token) {
  ESCROW_RETURN_IF_ERROR(RequireMechanism(session, CKM_AES_GCM, CKF_ENCRYPT | CKF_DECRYPT,
                                          "CKM_AES_GCM", "encrypt and decrypt"));
  ESCROW_RETURN_IF_ERROR(RequireMechanism(session, CKM_SHA256_HMAC, CKF_SIGN | CKF_VERIFY,
                                          "CKM_SHA256_HMAC", "sign and verify"));
  ESCROW_RETURN_IF_ERROR(
      RequireMechanism(session, CKM_AES_KEY_GEN, CKF_GENERATE, "CKM_AES_KEY_GEN", "generate"));
  ESCROW_RETURN_IF_ERROR(RequireMechanism(session, CKM_GENERIC_SECRET_KEY_GEN, CKF_GENERATE,
                                          "CKM_GENERIC_SECRET_KEY_GEN", "generate"));
  ModuleCapabilities caps;
  {
    ESCROW_ASSIGN_OR_RETURN(const CK_OBJECT_HANDLE handle, ProbeKey(session));
    const ScopedObject key(session, handle);
    ESCROW_ASSIGN_OR_RETURN(caps.check_value, HasCheckValue(session, key.get()));
    if (!caps.check_value) {
      Result<std::string> derived = DerivedCheckValue(session, key.get(), KeyRole::kMaster);
      if (!derived.ok() && derived.status().code() != Code::kNotFound) return derived.status();
      caps.derived_check_value = derived.ok();
    }
    ESCROW_ASSIGN_OR_RETURN(caps.session_copies, CopiesKeys(session, key.get()));
  }
  ESCROW_ASSIGN_OR_RETURN(caps.data_objects, ModuleKeepsDataObjects(session));
  caps.softhsm_store = token.manufacturer.starts_with("SoftHSM");
  caps.so_user = ModuleHasSoUser(token);
  return caps;
}

Result<bool> ModuleKeepsCheckValues(Pkcs11Session& session) {
  ESCROW_ASSIGN_OR_RETURN(const CK_OBJECT_HANDLE handle, ProbeKey(session));
  const ScopedObject key(session, handle);
  return HasCheckValue(session, key.get());
}

bool ModuleHasSoUser(const TokenInfo& token) {
  return !(token.manufacturer == "Mozilla Foundation" && token.model.starts_with("NSS"));
}

Status NoSoUser(std::string_view detail) {
  return Status::FailedPrecondition(
      "this PKCS#11 module has no security officer who can log in (" + std::string(detail) +
          "), so no trusted wrapping key can be made: master-key backup is refused on it "
          "(keep the token's own files safe instead, and see docs/threat-model.md)",
      "no_so_user");
}

}  // namespace escrow::hsm

namespace escrow::hsm {

std::vector<std::string> ModuleCapabilities::Missing() const {
  std::vector<std::string> missing;
  if (!check_value) {
    missing.emplace_back(derived_check_value
                             ? "CKA_CHECK_VALUE (check values are 3 bytes of a GCM tag or HMAC "
                               "of a fixed block)"
                             : "CKA_CHECK_VALUE (check values are n/a)");
  }
  if (!data_objects) {
    missing.emplace_back(
        "private data objects (the audit checkpoint is not kept: a rollback of the whole "
        "database is not detected)");
  }
  if (!so_user) {
    missing.emplace_back("an SO login (no trusted wrapping key: master-key backup is refused)");
  }
  if (!session_copies) {
    missing.emplace_back(
        "session copies of keys that keep every protection (token objects are used)");
  }
  return missing;
}

std::string CheckValueText(const KeyInfo& key) {
  if (key.check_value.empty()) return "n/a";
  if (key.check_value_method.empty() || key.check_value_method == kCheckValueToken) {
    return key.check_value;
  }
  return key.check_value + " (" + key.check_value_method + ")";
}

}  // namespace escrow::hsm
