#include "hsm/key_backup.h"

#include <algorithm>
#include <array>
#include <optional>
#include <span>
#include <utility>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "base/ssl_ptr.h"
#include "hsm/ck_error.h"
#include "hsm/key_objects.h"
#include "hsm/module_capabilities.h"
#include "hsm/pkcs11_module.h"
#include "hsm/pkcs11_session.h"
#include "hsm/token_slots.h"
#include "hsm/token_sync.h"

namespace escrow::hsm {
namespace {

constexpr std::size_t kCheckValueBytes = 3;

CK_BBOOL kTrue = CK_TRUE;    // NOLINT: PKCS#11 templates take non-const pointers
CK_BBOOL kFalse = CK_FALSE;  // NOLINT

template <class T>
CK_ATTRIBUTE Attr(CK_ATTRIBUTE_TYPE type, T* ptr) {
  return {type, ptr, sizeof(T)};
}
CK_ATTRIBUTE Attr(CK_ATTRIBUTE_TYPE type, std::string& text) {
  return {type, text.data(), text.size()};
}
CK_ATTRIBUTE Attr(CK_ATTRIBUTE_TYPE type, Bytes& bytes) {
  return {type, bytes.data(), bytes.size()};
}

std::string CheckValueOf(Bytes check) {
  if (check.size() > kCheckValueBytes) check.resize(kCheckValueBytes);
  return HexEncode(check);
}

// PKCS#11 3.0's RFC 5649 mechanism; p11-kit's header (2.40) predates it.
constexpr CK_MECHANISM_TYPE kCkmAesKeyWrapKwp = 0x210B;

CK_MECHANISM_TYPE MechanismOf(WrapMechanism mechanism) {
  return mechanism == WrapMechanism::kAesKeyWrapKwp ? kCkmAesKeyWrapKwp : CKM_AES_KEY_WRAP_PAD;
}

// Whether the token's module offers `mechanism` with `flag` (CKF_WRAP or CKF_UNWRAP).
bool Offers(Pkcs11Session& session, CK_MECHANISM_TYPE mechanism, CK_FLAGS flag) {
  CK_MECHANISM_INFO info{};
  const CK_RV rv = session.fns()->C_GetMechanismInfo(session.slot(), mechanism, &info);
  return rv == CKR_OK && (info.flags & flag) != 0;
}

// OpenSSL's wrap of `key` under `kek` by `padding`: RFC 5649, or PKCS#7 padding to the AES
// block and then RFC 3394. Known-answer material only, never a vault key.
Result<Bytes> SoftwareWrap(std::span<const std::uint8_t> kek, Bytes key, WrapPadding padding) {
  const EVP_CIPHER* cipher =
      padding == WrapPadding::kRfc5649 ? EVP_aes_256_wrap_pad() : EVP_aes_256_wrap();
  if (padding == WrapPadding::kPkcs7ThenRfc3394) {
    constexpr std::size_t kBlock = 16;
    const std::size_t pad = kBlock - key.size() % kBlock;
    key.insert(key.end(), pad, static_cast<std::uint8_t>(pad));
  }
  SslPtr<EVP_CIPHER_CTX> ctx(EVP_CIPHER_CTX_new());
  if (ctx == nullptr) return Status::Internal("EVP_CIPHER_CTX_new failed");
  EVP_CIPHER_CTX_set_flags(ctx.get(), EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
  Bytes out(key.size() + 16);
  int len = 0;
  if (EVP_EncryptInit_ex(ctx.get(), cipher, nullptr, kek.data(), nullptr) != 1 ||
      EVP_EncryptUpdate(ctx.get(), out.data(), &len, key.data(), static_cast<int>(key.size())) !=
          1) {
    return Status::Internal("AES key wrap (known answer) failed");
  }
  out.resize(static_cast<std::size_t>(len));
  return out;
}

// The padding rule of the module's CKM_AES_KEY_WRAP_PAD, found by unwrapping a known key, wrapped
// by OpenSSL each way under a known key, into a session object and reading it back; nullopt if
// neither comes back as the key.
Result<std::optional<WrapPadding>> PadRule(Pkcs11Session& session) {
  const std::array<std::uint8_t, 32> kek_value = {
      0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
      0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f};
  const Bytes known = {0xe5, 0xc0, 0x4b, 0x1d, 0x6a, 0x22, 0x90, 0x17,
                       0x3c, 0x48, 0xd1, 0x5e, 0x77, 0xa9, 0x02, 0xbb};
  CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
  CK_KEY_TYPE type = CKK_AES;
  Bytes kek(kek_value.begin(), kek_value.end());
  CK_ATTRIBUTE kek_attrs[] = {Attr(CKA_CLASS, &cls),       Attr(CKA_KEY_TYPE, &type),
                              Attr(CKA_VALUE, kek),        Attr(CKA_TOKEN, &kFalse),
                              Attr(CKA_UNWRAP, &kTrue),    Attr(CKA_WRAP, &kFalse),
                              Attr(CKA_ENCRYPT, &kFalse),  Attr(CKA_DECRYPT, &kFalse)};
  CK_OBJECT_HANDLE kek_handle = CK_INVALID_HANDLE;
  ESCROW_RETURN_IF_ERROR(session.Check(
      session.fns()->C_CreateObject(session.handle(), kek_attrs, std::size(kek_attrs), &kek_handle),
      "C_CreateObject (known-answer wrapping key)"));
  const ScopedObject kek_object(session, kek_handle);
  for (const WrapPadding padding : {WrapPadding::kRfc5649, WrapPadding::kPkcs7ThenRfc3394}) {
    ESCROW_ASSIGN_OR_RETURN(Bytes blob, SoftwareWrap(kek_value, known, padding));
    CK_ATTRIBUTE attrs[] = {Attr(CKA_CLASS, &cls),          Attr(CKA_KEY_TYPE, &type),
                            Attr(CKA_TOKEN, &kFalse),       Attr(CKA_SENSITIVE, &kFalse),
                            Attr(CKA_EXTRACTABLE, &kTrue),  Attr(CKA_ENCRYPT, &kFalse)};
    CK_MECHANISM mechanism{CKM_AES_KEY_WRAP_PAD, nullptr, 0};
    CK_OBJECT_HANDLE handle = CK_INVALID_HANDLE;
    const CK_RV rv = session.fns()->C_UnwrapKey(session.handle(), &mechanism, kek_handle,
                                                blob.data(), blob.size(), attrs, std::size(attrs),
                                                &handle);
    if (rv != CKR_OK) continue;  // not this rule (an integrity or length failure)
    const ScopedObject unwrapped(session, handle);
    ESCROW_ASSIGN_OR_RETURN(Bytes value, ReadAttributeBytes(session, handle, CKA_VALUE));
    if (value == known) return std::optional<WrapPadding>(padding);
  }
  return std::optional<WrapPadding>();
}

std::string CannotUnwrap(const WrapMethod& wrap) {
  if (wrap.padding == WrapPadding::kRfc5649) {
    return "this PKCS#11 module can unwrap the backup's keys (RFC 5649) by neither "
           "CKM_AES_KEY_WRAP_KWP nor its CKM_AES_KEY_WRAP_PAD (which pads otherwise or is "
           "missing): restore refused, nothing was changed";
  }
  return "the backup's keys were wrapped with PKCS#7 padding then RFC 3394 "
         "(CKM_AES_KEY_WRAP_PAD of a module such as NSS's softoken), which this PKCS#11 "
         "module's CKM_AES_KEY_WRAP_PAD does not unwrap: restore refused, nothing was changed";
}

// The mechanism that unwraps what `wrap` made on this module; kFailedPrecondition if none.
Result<CK_MECHANISM_TYPE> UnwrapMechanism(Pkcs11Session& session, const WrapMethod& wrap) {
  if (wrap.padding == WrapPadding::kRfc5649 && Offers(session, kCkmAesKeyWrapKwp, CKF_UNWRAP)) {
    return kCkmAesKeyWrapKwp;
  }
  if (Offers(session, CKM_AES_KEY_WRAP_PAD, CKF_UNWRAP)) {
    ESCROW_ASSIGN_OR_RETURN(const std::optional<WrapPadding> rule, PadRule(session));
    if (rule == wrap.padding) return CKM_AES_KEY_WRAP_PAD;
  }
  return Status::FailedPrecondition(CannotUnwrap(wrap));
}

// The method a backup on this module uses (see WrapVaultKeys).
Result<WrapMethod> ChooseWrap(Pkcs11Session& session) {
  if (Offers(session, kCkmAesKeyWrapKwp, CKF_WRAP)) {
    return WrapMethod{WrapMechanism::kAesKeyWrapKwp, WrapPadding::kRfc5649};
  }
  if (Offers(session, CKM_AES_KEY_WRAP_PAD, CKF_WRAP)) {
    ESCROW_ASSIGN_OR_RETURN(const std::optional<WrapPadding> rule, PadRule(session));
    if (rule) return WrapMethod{WrapMechanism::kAesKeyWrapPad, *rule};
    return Status::FailedPrecondition(
        "this PKCS#11 module's CKM_AES_KEY_WRAP_PAD pads by neither RFC 5649 nor PKCS#7, and it "
        "offers no CKM_AES_KEY_WRAP_KWP: master-key backup is refused");
  }
  return Status::FailedPrecondition(
      "this PKCS#11 module offers neither CKM_AES_KEY_WRAP_KWP nor CKM_AES_KEY_WRAP_PAD for "
      "wrapping: master-key backup is refused");
}

// A logged-in session on the token labelled `label`, with the module kept loaded.
Result<Pkcs11Session> OpenSession(const TokenLogin& login) {
  ESCROW_ASSIGN_OR_RETURN(const TokenSelector token,
                          SelectToken(login.token_label, login.token_uri));
  ESCROW_ASSIGN_OR_RETURN(std::shared_ptr<Pkcs11Module> module,
                          Pkcs11Module::Acquire(login.module_path, login.init_args));
  ESCROW_ASSIGN_OR_RETURN(CK_SLOT_ID slot, FindTokenSlot(*module, token));
  return Pkcs11Session::Open(std::move(module), slot, true);
}

// kFailedPrecondition (NoSoUser) on a module known to have no SO login (ModuleHasSoUser).
Status CheckSoUser(Pkcs11Session& session) {
  CK_TOKEN_INFO info{};
  ESCROW_RETURN_IF_ERROR(
      session.Check(session.fns()->C_GetTokenInfo(session.slot(), &info), "C_GetTokenInfo"));
  TokenInfo token;
  token.manufacturer = std::string(reinterpret_cast<const char*>(info.manufacturerID),  // NOLINT
                                   sizeof info.manufacturerID);
  token.model =
      std::string(reinterpret_cast<const char*>(info.model), sizeof info.model);  // NOLINT
  token.manufacturer.erase(token.manufacturer.find_last_not_of(' ') + 1);
  token.model.erase(token.model.find_last_not_of(' ') + 1);
  if (!ModuleHasSoUser(token)) return NoSoUser(token.manufacturer + " " + token.model);
  return Status::Ok();
}

Status Logout(Pkcs11Session& session) {
  const CK_RV rv = session.fns()->C_Logout(session.handle());
  if (rv == CKR_USER_NOT_LOGGED_IN) return Status::Ok();
  return session.Check(rv, "C_Logout");
}

// The ceremony key as a session object holding `value`. For wrapping it is trusted (needs an SO
// login) and public, so that it survives the SO's logout; for unwrapping it is an ordinary
// private key of the user's session. Never extractable, never usable for anything else.
Result<CK_OBJECT_HANDLE> CreateCeremonyKey(Pkcs11Session& session, const SecretBytes& value,
                                           bool for_wrap) {
  if (value.size() != kCeremonyKeyBytes) {
    return Status::InvalidArgument("the ceremony key must be 32 bytes");
  }
  CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
  CK_KEY_TYPE type = CKK_AES;
  std::string label = "escrow-ceremony";
  // PKCS#11 takes a non-const pointer; the token copies the value and does not write to it.
  CK_ATTRIBUTE value_attr{CKA_VALUE,
                          const_cast<std::uint8_t*>(value.RevealSecret().data()),  // NOLINT
                          value.size()};
  CK_ATTRIBUTE attrs[] = {
      Attr(CKA_CLASS, &cls),
      Attr(CKA_KEY_TYPE, &type),
      value_attr,
      Attr(CKA_TOKEN, &kFalse),
      Attr(CKA_PRIVATE, for_wrap ? &kFalse : &kTrue),
      Attr(CKA_SENSITIVE, &kTrue),
      Attr(CKA_EXTRACTABLE, &kFalse),
      Attr(CKA_TRUSTED, for_wrap ? &kTrue : &kFalse),
      Attr(CKA_WRAP, for_wrap ? &kTrue : &kFalse),
      Attr(CKA_UNWRAP, for_wrap ? &kFalse : &kTrue),
      Attr(CKA_ENCRYPT, &kFalse),
      Attr(CKA_DECRYPT, &kFalse),
      Attr(CKA_DERIVE, &kFalse),
      Attr(CKA_LABEL, label),
  };
  CK_OBJECT_HANDLE handle = CK_INVALID_HANDLE;
  const CK_RV rv =
      session.fns()->C_CreateObject(session.handle(), attrs, std::size(attrs), &handle);
  ESCROW_RETURN_IF_ERROR(session.Check(rv, "C_CreateObject (ceremony key)"));
  return handle;
}

Result<Bytes> WrapOne(Pkcs11Session& session, const WrapMethod& wrap, CK_OBJECT_HANDLE wrapping,
                      CK_OBJECT_HANDLE key) {
  CK_MECHANISM mechanism{MechanismOf(wrap.mechanism), nullptr, 0};
  CK_ULONG size = 0;
  CK_RV rv = session.fns()->C_WrapKey(session.handle(), &mechanism, wrapping, key, nullptr, &size);
  ESCROW_RETURN_IF_ERROR(session.Check(rv, "C_WrapKey"));
  Bytes out(size);
  rv = session.fns()->C_WrapKey(session.handle(), &mechanism, wrapping, key, out.data(), &size);
  ESCROW_RETURN_IF_ERROR(session.Check(rv, "C_WrapKey"));
  out.resize(size);
  return out;
}

Result<CK_OBJECT_HANDLE> UnwrapOne(Pkcs11Session& session, CK_MECHANISM_TYPE unwrap_mechanism,
                                   CK_OBJECT_HANDLE unwrapping, const WrappedKey& key) {
  const bool master = key.role == KeyRole::kMaster;
  CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
  CK_KEY_TYPE type = master ? CKK_AES : CKK_GENERIC_SECRET;
  std::string label = key.label;
  Bytes id = key.id;
  CK_BBOOL* for_aes = master ? &kTrue : &kFalse;
  CK_BBOOL* for_hmac = master ? &kFalse : &kTrue;
  // The attributes KeyService::GenerateKey gives (hsm/key_objects.cc), so that a restored key
  // is used, found and protected exactly as the original was.
  CK_ATTRIBUTE attrs[] = {
      Attr(CKA_CLASS, &cls),
      Attr(CKA_KEY_TYPE, &type),
      Attr(CKA_TOKEN, &kTrue),
      Attr(CKA_PRIVATE, &kTrue),
      Attr(CKA_SENSITIVE, &kTrue),
      Attr(CKA_EXTRACTABLE, key.extractable ? &kTrue : &kFalse),
      Attr(CKA_WRAP_WITH_TRUSTED, &kTrue),
      Attr(CKA_ENCRYPT, for_aes),
      Attr(CKA_DECRYPT, for_aes),
      Attr(CKA_SIGN, for_hmac),
      Attr(CKA_VERIFY, for_hmac),
      Attr(CKA_WRAP, &kFalse),
      Attr(CKA_UNWRAP, &kFalse),
      Attr(CKA_DERIVE, &kFalse),
      Attr(CKA_LABEL, label),
      Attr(CKA_ID, id),
  };
  CK_MECHANISM mechanism{unwrap_mechanism, nullptr, 0};
  Bytes wrapped = key.wrapped;
  CK_OBJECT_HANDLE handle = CK_INVALID_HANDLE;
  const CK_RV rv =
      session.fns()->C_UnwrapKey(session.handle(), &mechanism, unwrapping, wrapped.data(),
                                 wrapped.size(), attrs, std::size(attrs), &handle);
  if (rv == CKR_WRAPPED_KEY_INVALID || rv == CKR_WRAPPED_KEY_LEN_RANGE ||
      rv == CKR_ENCRYPTED_DATA_INVALID || rv == CKR_GENERAL_ERROR) {
    (void)session.Check(rv, "C_UnwrapKey");
    // The wrap's integrity check failed: the wrong ceremony key or a damaged blob.
    return Status::DataLoss("C_UnwrapKey of " + key.label + " failed (" + CkRvName(rv) +
                            "): wrong ceremony key or damaged backup");
  }
  ESCROW_RETURN_IF_ERROR(session.Check(rv, "C_UnwrapKey"));
  return handle;
}

// SoftHSMv2 computes CKA_CHECK_VALUE for generated and created keys but not for unwrapped ones.
// Setting the recorded value makes the token compute the key's own check value and compare
// (CKR_ATTRIBUTE_VALUE_INVALID on a mismatch), so the restored key is proven to be the one
// that was backed up, without its value ever leaving the token.
Status SetCheckValue(Pkcs11Session& session, CK_OBJECT_HANDLE handle, const WrappedKey& key) {
  if (key.check_value.empty()) return Status::Ok();
  std::optional<Bytes> check = HexDecode(key.check_value);
  if (!check || check->size() != kCheckValueBytes) {
    return Status::DataLoss("the backup's check value of " + key.label + " is malformed");
  }
  CK_ATTRIBUTE attr = Attr(CKA_CHECK_VALUE, *check);
  const CK_RV rv = session.fns()->C_SetAttributeValue(session.handle(), handle, &attr, 1);
  if (rv == CKR_ATTRIBUTE_VALUE_INVALID) {
    (void)session.Check(rv, "C_SetAttributeValue");
    return Status::DataLoss(key.label + " does not match its recorded check value " +
                            key.check_value + ": wrong ceremony key or damaged backup");
  }
  return session.Check(rv, "C_SetAttributeValue (CKA_CHECK_VALUE)");
}

}  // namespace

Status CheckBackupPossible(const TokenLogin& login) {
  ESCROW_ASSIGN_OR_RETURN(Pkcs11Session session, OpenSession(login));
  return CheckSoUser(session);
}

Result<std::vector<WrappedKey>> WrapVaultKeys(const TokenLogin& login,
                                              const SecretBytes& ceremony_key) {
  if (login.user_pin == nullptr || login.so_pin == nullptr) {
    return Status::InvalidArgument("backup needs the user PIN and the SO PIN");
  }
  ESCROW_ASSIGN_OR_RETURN(Pkcs11Session session, OpenSession(login));
  ESCROW_RETURN_IF_ERROR(CheckSoUser(session));
  if (Status s = session.Login(CKU_SO, *login.so_pin); !s.ok()) {
    if (session.last_error() == CKR_USER_TYPE_INVALID) {
      return NoSoUser("C_Login(CKU_SO): CKR_USER_TYPE_INVALID");
    }
    return s.WithContext("logging in as the security officer");
  }
  Result<CK_OBJECT_HANDLE> created = CreateCeremonyKey(session, ceremony_key, true);
  // The SO session must not outlive the one call that needs it.
  Status so_logout = Logout(session);
  if (!created.ok()) return created.status();
  ScopedObject ceremony(session, *created);
  ESCROW_RETURN_IF_ERROR(so_logout);
  if (Status s = session.Login(CKU_USER, *login.user_pin); !s.ok()) {
    return s.WithContext("logging in as the user");
  }
  std::vector<WrappedKey> out;
  Status status = [&]() -> Status {
    ESCROW_ASSIGN_OR_RETURN(const WrapMethod wrap, ChooseWrap(session));
    ESCROW_ASSIGN_OR_RETURN(std::vector<KeyInfo> infos, ListKeyObjects(session));
    if (infos.empty()) return Status::FailedPrecondition("the token holds no vault keys");
    for (const KeyInfo& info : infos) {
      if (!info.extractable) {
        return Status::FailedPrecondition(
            info.label +
            " is not backup-capable (it was not created with --backup-capable, so "
            "it can never leave the HSM); master-key backup is refused");
      }
    }
    for (const KeyInfo& info : infos) {
      ESCROW_ASSIGN_OR_RETURN(CK_OBJECT_HANDLE handle,
                              FindKeyObject(session, info.role, info.version));
      WrappedKey key;
      key.role = info.role;
      key.version = info.version;
      key.label = info.label;
      key.extractable = info.extractable;
      key.check_value = info.check_value;
      ESCROW_ASSIGN_OR_RETURN(key.id, ReadAttributeBytes(session, handle, CKA_ID));
      Result<Bytes> wrapped = WrapOne(session, wrap, ceremony.get(), handle);
      if (!wrapped.ok()) return wrapped.status().WithContext("wrapping " + info.label);
      key.wrapped = std::move(*wrapped);
      key.wrap = wrap;
      out.push_back(std::move(key));
    }
    return Status::Ok();
  }();
  // ~ScopedObject destroys the ceremony key before the session closes (and logs the user out).
  if (!status.ok()) return status;
  return out;
}

namespace {

// Unwraps `keys` into the token of `session` (REQUIRES: logged in as the user) and verifies each
// one's check value; all or nothing. The token directory is synced before returning.
Status UnwrapAll(Pkcs11Session& session, const TokenLogin& login, const SecretBytes& ceremony_key,
                 const std::vector<const WrappedKey*>& keys) {
  for (const WrappedKey* key : keys) {
    ESCROW_ASSIGN_OR_RETURN(bool exists, LabelExists(session, key->label));
    if (exists) {
      return Status::FailedPrecondition("an object labelled " + key->label + " already exists");
    }
  }
  // The restored keys are proven to be the backed-up ones by the token's CKA_CHECK_VALUE,
  // compared with the source token's: a module without it (NSS's softoken) cannot prove that.
  ESCROW_ASSIGN_OR_RETURN(const bool check_values, ModuleKeepsCheckValues(session));
  if (!check_values) {
    return Status::FailedPrecondition(
        "this PKCS#11 module has no CKA_CHECK_VALUE, so a restored key cannot be proven to be "
        "the one backed up (the backup holds the source token's check values): restore into it "
        "is refused",
        "no_check_value");
  }
  // Every key's mechanism before anything is created: a module that cannot unwrap one refuses
  // the whole restore with the reason. Found once per wrap method (a backup has one), since
  // finding CKM_AES_KEY_WRAP_PAD's rule unwraps known answers in the token.
  std::vector<CK_MECHANISM_TYPE> mechanisms;
  std::optional<std::pair<WrapMethod, CK_MECHANISM_TYPE>> found;
  for (const WrappedKey* key : keys) {
    if (!found || !(found->first == key->wrap)) {
      ESCROW_ASSIGN_OR_RETURN(CK_MECHANISM_TYPE mechanism, UnwrapMechanism(session, key->wrap));
      found.emplace(key->wrap, mechanism);
    }
    mechanisms.push_back(found->second);
  }
  ESCROW_ASSIGN_OR_RETURN(CK_OBJECT_HANDLE unwrapping_handle,
                          CreateCeremonyKey(session, ceremony_key, false));
  ScopedObject unwrapping(session, unwrapping_handle);

  std::vector<CK_OBJECT_HANDLE> created;
  Status status = [&]() -> Status {
    for (std::size_t i = 0; i < keys.size(); ++i) {
      const WrappedKey* key = keys[i];
      ESCROW_ASSIGN_OR_RETURN(CK_OBJECT_HANDLE handle,
                              UnwrapOne(session, mechanisms[i], unwrapping.get(), *key));
      created.push_back(handle);
      ESCROW_RETURN_IF_ERROR(SetCheckValue(session, handle, *key));
      ESCROW_ASSIGN_OR_RETURN(Bytes check, ReadAttributeBytes(session, handle, CKA_CHECK_VALUE));
      const std::string got = CheckValueOf(std::move(check));
      if (!key->check_value.empty() && got != key->check_value) {
        return Status::DataLoss(key->label + " unwrapped to check value " + got + ", expected " +
                                key->check_value + ": wrong ceremony key or damaged backup");
      }
    }
    return Status::Ok();
  }();
  if (!status.ok()) {
    // All or nothing: leave the token as it was.
    for (const CK_OBJECT_HANDLE handle : created) {
      (void)session.Check(session.fns()->C_DestroyObject(session.handle(), handle),
                          "C_DestroyObject");
    }
    (void)SyncSoftHsmTokenDir();
    return status;
  }
  ESCROW_ASSIGN_OR_RETURN(std::shared_ptr<Pkcs11Module> module,
                          Pkcs11Module::Acquire(login.module_path, login.init_args));
  ESCROW_ASSIGN_OR_RETURN(TokenInfo token, ReadTokenInfo(*module, session.slot()));
  return SyncSoftHsmTokenDir(token.serial);
}

// Whether two check values are the same, in constant time. They are not secret (transcripts
// print them), but the comparison costs nothing and leaves no doubt.
bool SameCheckValue(const std::string& a, const std::string& b) {
  return !a.empty() && a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

std::string VaultKeyLabel(KeyRole role, std::uint32_t version) { return KeyLabel(role, version); }

std::string_view WrapMechanismName(WrapMechanism mechanism) {
  return mechanism == WrapMechanism::kAesKeyWrapKwp ? "CKM_AES_KEY_WRAP_KWP"
                                                    : "CKM_AES_KEY_WRAP_PAD";
}

std::string_view WrapPaddingName(WrapPadding padding) {
  return padding == WrapPadding::kRfc5649 ? "rfc5649" : "pkcs7-rfc3394";
}

std::optional<WrapMethod> ParseWrapMethod(std::string_view mechanism, std::string_view padding) {
  WrapMethod m;
  if (mechanism == WrapMechanismName(WrapMechanism::kAesKeyWrapKwp)) {
    m.mechanism = WrapMechanism::kAesKeyWrapKwp;
  } else if (mechanism != WrapMechanismName(WrapMechanism::kAesKeyWrapPad)) {
    return std::nullopt;
  }
  if (padding == WrapPaddingName(WrapPadding::kPkcs7ThenRfc3394)) {
    m.padding = WrapPadding::kPkcs7ThenRfc3394;
  } else if (padding != WrapPaddingName(WrapPadding::kRfc5649)) {
    return std::nullopt;
  }
  if (m.mechanism == WrapMechanism::kAesKeyWrapKwp && m.padding != WrapPadding::kRfc5649) {
    return std::nullopt;
  }
  return m;
}

Status UnwrapVaultKeys(const TokenLogin& login, const SecretBytes& ceremony_key,
                       const std::vector<WrappedKey>& keys) {
  if (login.user_pin == nullptr) return Status::InvalidArgument("restore needs the user PIN");
  if (keys.empty()) return Status::InvalidArgument("no keys to restore");
  ESCROW_ASSIGN_OR_RETURN(Pkcs11Session session, OpenSession(login));
  ESCROW_RETURN_IF_ERROR(session.Login(CKU_USER, *login.user_pin));
  ESCROW_ASSIGN_OR_RETURN(std::vector<KeyInfo> present, ListKeyObjects(session));
  if (!present.empty()) {
    return Status::FailedPrecondition(
        "the token " + login.name() + " already holds " + present.front().label +
        "; restore only into a token without vault keys, or give --add to import only the key "
        "versions it lacks");
  }
  std::vector<const WrappedKey*> all;
  for (const WrappedKey& key : keys) all.push_back(&key);
  return UnwrapAll(session, login, ceremony_key, all);
}

Result<KeyImport> ImportMissingVaultKeys(const TokenLogin& login, const SecretBytes& ceremony_key,
                                         const std::vector<WrappedKey>& keys) {
  if (login.user_pin == nullptr) return Status::InvalidArgument("restore needs the user PIN");
  if (keys.empty()) return Status::InvalidArgument("no keys to restore");
  ESCROW_ASSIGN_OR_RETURN(Pkcs11Session session, OpenSession(login));
  ESCROW_RETURN_IF_ERROR(session.Login(CKU_USER, *login.user_pin));
  ESCROW_ASSIGN_OR_RETURN(std::vector<KeyInfo> present, ListKeyObjects(session));
  KeyImport import;
  std::vector<const WrappedKey*> missing;
  // Every key the token has is checked before anything is imported: a token whose key under a
  // label is another key than the backup's (a rotation done on both nodes, a token of another
  // vault) must not end up with half of someone else's keys.
  for (const WrappedKey& key : keys) {
    const auto it = std::find_if(present.begin(), present.end(),
                                 [&](const KeyInfo& info) { return info.label == key.label; });
    if (it == present.end()) {
      missing.push_back(&key);
      continue;
    }
    if (!SameCheckValue(it->check_value, key.check_value)) {
      return Status::FailedPrecondition(
          "the token " + login.name() + " holds " + key.label + " with check value " +
          (it->check_value.empty() ? "(none)" : it->check_value) + ", the backup's " + key.label +
          " has " + (key.check_value.empty() ? "(none)" : key.check_value) +
          ": not the same key; nothing was imported");
    }
    import.present.push_back(key.label);
  }
  if (!missing.empty()) ESCROW_RETURN_IF_ERROR(UnwrapAll(session, login, ceremony_key, missing));
  for (const WrappedKey* key : missing) import.imported.push_back(key->label);
  return import;
}

}  // namespace escrow::hsm
