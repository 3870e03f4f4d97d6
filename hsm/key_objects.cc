#include "hsm/key_objects.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <limits>
#include <tuple>

#include "base/bytes.h"
#include "hsm/ck_error.h"
#include "hsm/module_capabilities.h"

namespace escrow::hsm {
namespace {

// Each role's label prefix, in KeyRole's order.
constexpr std::array<std::pair<KeyRole, std::string_view>, 4> kPrefixes{{
    {KeyRole::kMaster, "escrow-master-v"},
    {KeyRole::kAudit, "escrow-audit-v"},
    {KeyRole::kFingerprint, "escrow-fingerprint-v"},
    {KeyRole::kState, "escrow-state-v"},
}};
constexpr CK_ULONG kKeyBytes = 32;
constexpr std::size_t kCheckValueBytes = 3;

CK_BBOOL kTrue = CK_TRUE;    // NOLINT: PKCS#11 templates take non-const pointers
CK_BBOOL kFalse = CK_FALSE;  // NOLINT

CK_KEY_TYPE KeyTypeOf(KeyRole role) {
  return role == KeyRole::kMaster ? CKK_AES : CKK_GENERIC_SECRET;
}

template <class T>
CK_ATTRIBUTE Attr(CK_ATTRIBUTE_TYPE type, T* ptr) {
  return {type, ptr, sizeof(T)};
}
CK_ATTRIBUTE Attr(CK_ATTRIBUTE_TYPE type, std::string& text) {
  return {type, text.data(), text.size()};
}

// Ends a search on every path, so the session never keeps an active find operation.
class FindGuard {
 public:
  explicit FindGuard(Pkcs11Session& session) : session_(session) {}
  FindGuard(const FindGuard&) = delete;  // would end the search twice
  FindGuard& operator=(const FindGuard&) = delete;
  FindGuard(FindGuard&&) = delete;
  FindGuard& operator=(FindGuard&&) = delete;
  ~FindGuard() { (void)session_.fns()->C_FindObjectsFinal(session_.handle()); }

 private:
  Pkcs11Session& session_;
};

Result<bool> ReadBool(Pkcs11Session& session, CK_OBJECT_HANDLE object, CK_ATTRIBUTE_TYPE type) {
  CK_BBOOL flag = CK_FALSE;
  CK_ATTRIBUTE attr = Attr(type, &flag);
  const CK_RV rv = session.fns()->C_GetAttributeValue(session.handle(), object, &attr, 1);
  ESCROW_RETURN_IF_ERROR(session.Check(rv, "C_GetAttributeValue"));
  return flag == CK_TRUE;
}

}  // namespace

std::string_view KeyLabelPrefix(KeyRole role) {
  for (const auto& [r, prefix] : kPrefixes) {
    if (r == role) return prefix;
  }
  return "escrow-unknown-v";  // unreachable: every role has a prefix
}

std::string KeyLabel(KeyRole role, std::uint32_t version) {
  return std::string(KeyLabelPrefix(role)) + std::to_string(version);
}

std::optional<LabelledKey> ParseKeyLabel(std::string_view label) {
  const auto* it = std::find_if(kPrefixes.begin(), kPrefixes.end(),
                                [&](const auto& p) { return label.starts_with(p.second); });
  if (it == kPrefixes.end()) return std::nullopt;
  const KeyRole role = it->first;
  label.remove_prefix(it->second.size());
  if (label.empty() || (label.size() > 1 && label.front() == '0')) return std::nullopt;
  if (!std::all_of(label.begin(), label.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  std::uint32_t version = 0;
  const auto [end, ec] = std::from_chars(label.data(), label.data() + label.size(), version);
  if (ec != std::errc() || end != label.data() + label.size()) return std::nullopt;
  return LabelledKey{role, version};
}

Result<std::vector<CK_OBJECT_HANDLE>> FindObjects(Pkcs11Session& session,
                                                  std::span<CK_ATTRIBUTE> attrs) {
  CK_RV rv = session.fns()->C_FindObjectsInit(session.handle(), attrs.data(), attrs.size());
  ESCROW_RETURN_IF_ERROR(session.Check(rv, "C_FindObjectsInit"));
  FindGuard guard(session);
  std::vector<CK_OBJECT_HANDLE> found;
  std::array<CK_OBJECT_HANDLE, 32> batch{};
  for (;;) {
    CK_ULONG n = 0;
    rv = session.fns()->C_FindObjects(session.handle(), batch.data(), batch.size(), &n);
    ESCROW_RETURN_IF_ERROR(session.Check(rv, "C_FindObjects"));
    if (n == 0) break;
    found.insert(found.end(), batch.begin(), batch.begin() + static_cast<std::ptrdiff_t>(n));
  }
  return found;
}

Result<bool> LabelExists(Pkcs11Session& session, const std::string& label) {
  std::string text = label;
  CK_ATTRIBUTE attrs[] = {Attr(CKA_LABEL, text)};
  ESCROW_ASSIGN_OR_RETURN(std::vector<CK_OBJECT_HANDLE> found, FindObjects(session, attrs));
  return !found.empty();
}

Result<CK_OBJECT_HANDLE> FindKeyObject(Pkcs11Session& session, KeyRole role,
                                       std::uint32_t version) {
  return FindLabelledObject(session, CKO_SECRET_KEY, KeyTypeOf(role), KeyLabel(role, version),
                            "keys");
}

Result<CK_OBJECT_HANDLE> FindLabelledObject(Pkcs11Session& session, CK_OBJECT_CLASS cls,
                                            CK_KEY_TYPE type, std::string label,
                                            std::string_view plural) {
  CK_ATTRIBUTE attrs[] = {Attr(CKA_CLASS, &cls), Attr(CKA_KEY_TYPE, &type), Attr(CKA_TOKEN, &kTrue),
                          Attr(CKA_LABEL, label)};
  ESCROW_ASSIGN_OR_RETURN(std::vector<CK_OBJECT_HANDLE> found, FindObjects(session, attrs));
  if (found.empty()) return Status::NotFound("no key " + label + " on the token");
  if (found.size() > 1) {
    return Status::FailedPrecondition(std::to_string(found.size()) + " " + std::string(plural) +
                                      " labelled " + label);
  }
  return found.front();
}

Result<CK_OBJECT_HANDLE> GenerateKeyObject(Pkcs11Session& session, KeyRole role,
                                           std::uint32_t version, bool backup_capable) {
  const bool master = role == KeyRole::kMaster;
  std::string label = KeyLabel(role, version);
  std::string id = label;
  CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
  CK_KEY_TYPE type = KeyTypeOf(role);
  CK_ULONG length = kKeyBytes;
  CK_BBOOL* extractable = backup_capable ? &kTrue : &kFalse;
  CK_BBOOL* for_aes = master ? &kTrue : &kFalse;
  CK_BBOOL* for_hmac = master ? &kFalse : &kTrue;
  CK_ATTRIBUTE attrs[] = {
      Attr(CKA_CLASS, &cls),
      Attr(CKA_KEY_TYPE, &type),
      Attr(CKA_VALUE_LEN, &length),
      Attr(CKA_TOKEN, &kTrue),
      Attr(CKA_PRIVATE, &kTrue),
      Attr(CKA_SENSITIVE, &kTrue),
      Attr(CKA_EXTRACTABLE, extractable),
      // Always set: even a backup-capable key may be wrapped only under a CKA_TRUSTED key
      // (which only the SO can mark), never exported under a key an attacker made.
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
  CK_MECHANISM mechanism{master ? CKM_AES_KEY_GEN : CKM_GENERIC_SECRET_KEY_GEN, nullptr, 0};
  CK_OBJECT_HANDLE key = CK_INVALID_HANDLE;
  const CK_RV rv =
      session.fns()->C_GenerateKey(session.handle(), &mechanism, attrs, std::size(attrs), &key);
  ESCROW_RETURN_IF_ERROR(session.Check(rv, "C_GenerateKey"));
  return key;
}

Result<KeyInfo> ReadKeyInfo(Pkcs11Session& session, CK_OBJECT_HANDLE key, KeyRole role,
                            std::uint32_t version) {
  KeyInfo info;
  info.role = role;
  info.version = version;
  info.label = KeyLabel(role, version);
  ESCROW_ASSIGN_OR_RETURN(std::vector<std::uint8_t> check,
                          ReadAttributeBytes(session, key, CKA_CHECK_VALUE));
  // Never more than 3 bytes: a longer check value would reveal more of the key's behaviour.
  if (check.size() > kCheckValueBytes) check.resize(kCheckValueBytes);
  info.check_value = HexEncode(check);
  info.check_value_method = std::string(kCheckValueToken);
  if (check.empty()) {
    // A module without CKA_CHECK_VALUE (NSS's softoken): the same 3 bytes, made another way.
    Result<std::string> derived = DerivedCheckValue(session, key, role);
    if (!derived.ok() && derived.status().code() != Code::kNotFound) return derived.status();
    info.check_value = derived.ok() ? *derived : std::string();
    info.check_value_method = !derived.ok()              ? std::string()
                              : role == KeyRole::kMaster ? std::string(kCheckValueGcm)
                                                         : std::string(kCheckValueHmac);
  }
  ESCROW_ASSIGN_OR_RETURN(info.sensitive, ReadBool(session, key, CKA_SENSITIVE));
  ESCROW_ASSIGN_OR_RETURN(info.extractable, ReadBool(session, key, CKA_EXTRACTABLE));
  return info;
}

Result<CK_OBJECT_HANDLE> CopyKeyToSession(Pkcs11Session& session, CK_OBJECT_HANDLE key) {
  std::string label(kSessionCopyLabel);
  CK_ATTRIBUTE attrs[] = {Attr(CKA_TOKEN, &kFalse), Attr(CKA_LABEL, label)};
  CK_OBJECT_HANDLE copy = CK_INVALID_HANDLE;
  const CK_RV rv =
      session.fns()->C_CopyObject(session.handle(), key, attrs, std::size(attrs), &copy);
  ESCROW_RETURN_IF_ERROR(session.Check(rv, "C_CopyObject"));
  return copy;
}

Result<Bytes> ReadAttributeBytes(Pkcs11Session& session, CK_OBJECT_HANDLE object,
                                 CK_ATTRIBUTE_TYPE type) {
  CK_ATTRIBUTE attr{type, nullptr, 0};
  CK_RV rv = session.fns()->C_GetAttributeValue(session.handle(), object, &attr, 1);
  if (rv == CKR_ATTRIBUTE_TYPE_INVALID || attr.ulValueLen == CK_UNAVAILABLE_INFORMATION) {
    return Bytes{};
  }
  ESCROW_RETURN_IF_ERROR(session.Check(rv, "C_GetAttributeValue"));
  Bytes out(attr.ulValueLen);
  attr.pValue = out.data();
  rv = session.fns()->C_GetAttributeValue(session.handle(), object, &attr, 1);
  ESCROW_RETURN_IF_ERROR(session.Check(rv, "C_GetAttributeValue"));
  out.resize(attr.ulValueLen);
  return out;
}

Result<bool> ObjectExists(Pkcs11Session& session, CK_OBJECT_HANDLE object) {
  CK_OBJECT_CLASS cls = 0;
  CK_ATTRIBUTE attr = Attr(CKA_CLASS, &cls);
  const CK_RV rv = session.fns()->C_GetAttributeValue(session.handle(), object, &attr, 1);
  if (rv == CKR_OBJECT_HANDLE_INVALID) return false;
  ESCROW_RETURN_IF_ERROR(session.Check(rv, "C_GetAttributeValue"));
  return true;
}

Result<std::vector<KeyInfo>> ListKeyObjects(Pkcs11Session& session) {
  CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
  CK_ATTRIBUTE attrs[] = {Attr(CKA_CLASS, &cls), Attr(CKA_TOKEN, &kTrue)};
  ESCROW_ASSIGN_OR_RETURN(std::vector<CK_OBJECT_HANDLE> found, FindObjects(session, attrs));
  std::vector<KeyInfo> keys;
  for (const CK_OBJECT_HANDLE object : found) {
    ESCROW_ASSIGN_OR_RETURN(std::vector<std::uint8_t> label,
                            ReadAttributeBytes(session, object, CKA_LABEL));
    const std::optional<LabelledKey> parsed =
        ParseKeyLabel(std::string_view(reinterpret_cast<const char*>(label.data()),  // NOLINT
                                       label.size()));
    if (!parsed) continue;
    CK_KEY_TYPE type = 0;
    CK_ATTRIBUTE type_attr = Attr(CKA_KEY_TYPE, &type);
    const CK_RV rv = session.fns()->C_GetAttributeValue(session.handle(), object, &type_attr, 1);
    ESCROW_RETURN_IF_ERROR(session.Check(rv, "C_GetAttributeValue"));
    if (type != KeyTypeOf(parsed->role)) continue;  // someone else's object under our name
    ESCROW_ASSIGN_OR_RETURN(KeyInfo info,
                            ReadKeyInfo(session, object, parsed->role, parsed->version));
    keys.push_back(std::move(info));
  }
  std::sort(keys.begin(), keys.end(), [](const KeyInfo& a, const KeyInfo& b) {
    return std::tie(a.role, a.version) < std::tie(b.role, b.version);
  });
  return keys;
}

}  // namespace escrow::hsm
