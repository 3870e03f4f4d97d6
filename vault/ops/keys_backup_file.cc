#include "vault/ops/keys_backup_file.h"

#include <array>
#include <memory>
#include <optional>
#include <string_view>

#include <boost/json.hpp>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "base/ssl_ptr.h"

namespace escrow::ops {
namespace {

// v2 added the fingerprint and state roles; v3 records how the keys were wrapped ("wrap":
// mechanism and padding rule, hsm/key_backup.h), since modules pad CKM_AES_KEY_WRAP_PAD
// differently. v1 and v2 files (SoftHSMv2's CKM_AES_KEY_WRAP_PAD, RFC 5649) still restore;
// nothing writes them any more, and an older reader refuses a newer file as of an unknown
// format instead of misreading it.
constexpr std::string_view kFormatV1 = "escrow-keys-backup-v1";
constexpr std::string_view kFormatV2 = "escrow-keys-backup-v2";
constexpr std::string_view kFormat = "escrow-keys-backup-v3";
constexpr std::string_view kMacPrefix = "\nmac: ";
constexpr std::size_t kKeyCheckBytes = 8;

// HKDF-SHA256(ikm = ceremony key, salt = backup id, info = purpose): one key per purpose, so
// the MAC key and the key check never reveal each other or the ceremony key.
Result<SecretBytes> DeriveKey(const SecretBytes& ceremony_key, const std::string& backup_id,
                              std::string_view purpose) {
  SslPtr<EVP_KDF> kdf(EVP_KDF_fetch(nullptr, "HKDF", nullptr));
  if (kdf == nullptr) return Status::Internal("HKDF unavailable");
  SslPtr<EVP_KDF_CTX> ctx(EVP_KDF_CTX_new(kdf.get()));
  if (ctx == nullptr) return Status::Internal("HKDF unavailable");
  std::string digest = "SHA256";
  std::string salt = backup_id;
  std::string info(purpose);
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest.data(), 0),
      OSSL_PARAM_construct_octet_string(
          OSSL_KDF_PARAM_KEY,
          const_cast<std::uint8_t*>(ceremony_key.RevealSecret().data()),  // NOLINT
          ceremony_key.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, salt.data(), salt.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info.data(), info.size()),
      OSSL_PARAM_construct_end()};
  SecretBytes out(32);
  if (EVP_KDF_derive(ctx.get(), out.mutable_span().data(), out.size(), params) != 1) {
    return Status::Internal("HKDF failed");
  }
  return out;
}

Result<std::string> Hmac(const SecretBytes& key, std::string_view data, std::size_t bytes) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), key.RevealSecret().data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac,  // NOLINT
           &len) == nullptr) {
    return Status::Internal("HMAC failed");
  }
  return HexEncode(std::span<const std::uint8_t>(mac, std::min<std::size_t>(bytes, len)));
}

Result<std::string> KeyCheck(const SecretBytes& ceremony_key, const std::string& backup_id) {
  ESCROW_ASSIGN_OR_RETURN(SecretBytes key,
                          DeriveKey(ceremony_key, backup_id, "escrow keys.backup key check v1"));
  return Hmac(key, "escrow ceremony key check", kKeyCheckBytes);
}

Result<std::string> BodyMac(const SecretBytes& ceremony_key, const std::string& backup_id,
                            std::string_view body) {
  ESCROW_ASSIGN_OR_RETURN(SecretBytes key,
                          DeriveKey(ceremony_key, backup_id, "escrow keys.backup mac v1"));
  return Hmac(key, body, 32);
}

// Each role's name in the file, in KeyRole's order; v1 knows only the first two.
constexpr std::array<std::pair<hsm::KeyRole, std::string_view>, 4> kRoleNames{{
    {hsm::KeyRole::kMaster, "master"},
    {hsm::KeyRole::kAudit, "audit"},
    {hsm::KeyRole::kFingerprint, "fingerprint"},
    {hsm::KeyRole::kState, "state"},
}};
constexpr std::size_t kV1Roles = 2;

std::string_view RoleName(hsm::KeyRole role) {
  for (const auto& [r, name] : kRoleNames) {
    if (r == role) return name;
  }
  return "unknown";  // unreachable: every role has a name
}

std::optional<hsm::KeyRole> ParseRole(std::string_view name, bool v1) {
  const std::size_t known = v1 ? kV1Roles : kRoleNames.size();
  for (std::size_t i = 0; i < known; ++i) {
    if (kRoleNames[i].second == name) return kRoleNames[i].first;
  }
  return std::nullopt;
}

Status Damaged(std::string_view why) {
  return Status::DataLoss("keys.backup is damaged (" + std::string(why) + ")");
}

// Splits the file into its body and MAC hex.
Result<std::pair<std::string_view, std::string_view>> Split(const std::string& text) {
  const std::size_t at = text.rfind(kMacPrefix);
  if (at == std::string::npos) return Damaged("no mac line");
  std::string_view mac = std::string_view(text).substr(at + kMacPrefix.size());
  if (mac.ends_with('\n')) mac.remove_suffix(1);
  return std::make_pair(std::string_view(text).substr(0, at), mac);
}

std::uint32_t U32(const boost::json::object& o, const char* key) {
  const boost::json::value* v = o.if_contains(key);
  if (v == nullptr) return 0;
  if (v->is_uint64() && v->as_uint64() <= 0xffffffffU) {
    return static_cast<std::uint32_t>(v->as_uint64());
  }
  if (v->is_int64() && v->as_int64() >= 0 && v->as_int64() <= 0xffffffff) {
    return static_cast<std::uint32_t>(v->as_int64());
  }
  return 0;
}

std::string Str(const boost::json::object& o, const char* key) {
  const boost::json::value* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

}  // namespace

Result<std::string> RenderKeysBackup(const KeysBackup& b, const SecretBytes& ceremony_key) {
  if (b.keys.empty()) return Status::InvalidArgument("a backup without keys");
  const hsm::WrapMethod wrap = b.keys.front().wrap;
  for (const hsm::WrappedKey& k : b.keys) {
    if (!(k.wrap == wrap)) return Status::Internal("a backup's keys wrapped two ways");
  }
  boost::json::array keys;
  for (const hsm::WrappedKey& k : b.keys) {
    keys.push_back(boost::json::object{{"label", k.label},
                                       {"role", RoleName(k.role)},
                                       {"version", k.version},
                                       {"id", HexEncode(k.id)},
                                       {"extractable", k.extractable},
                                       {"check_value", k.check_value},
                                       {"wrapped", HexEncode(k.wrapped)}});
  }
  ESCROW_ASSIGN_OR_RETURN(std::string key_check, KeyCheck(ceremony_key, b.backup_id));
  boost::json::object body{{"format", kFormat},
                           {"backup_id", b.backup_id},
                           {"created", b.created},
                           {"token_label", b.token_label},
                           {"token_serial", b.token_serial},
                           {"threshold", b.threshold},
                           {"shares", b.shares},
                           {"active_master_key_version", b.active_master_key_version},
                           {"audit_key_version", b.audit_key_version},
                           {"wrap",
                            boost::json::object{
                                {"mechanism", hsm::WrapMechanismName(wrap.mechanism)},
                                {"padding", hsm::WrapPaddingName(wrap.padding)}}},
                           {"key_check", key_check},
                           {"keys", std::move(keys)}};
  const std::string text = boost::json::serialize(body);
  ESCROW_ASSIGN_OR_RETURN(std::string mac, BodyMac(ceremony_key, b.backup_id, text));
  return text + std::string(kMacPrefix) + mac + "\n";
}

Result<KeysBackup> ParseKeysBackup(const std::string& text) {
  ESCROW_ASSIGN_OR_RETURN(auto parts, Split(text));
  boost::system::error_code ec;
  const boost::json::value v = boost::json::parse(parts.first, ec);
  if (ec || !v.is_object()) return Damaged("not JSON");
  const boost::json::object& o = v.as_object();
  const std::string format = Str(o, "format");
  if (format != kFormat && format != kFormatV2 && format != kFormatV1) {
    return Damaged("unknown format");
  }
  const bool v1 = format == kFormatV1;
  hsm::WrapMethod wrap;  // v1 and v2: SoftHSMv2's CKM_AES_KEY_WRAP_PAD, RFC 5649
  if (format == kFormat) {
    const boost::json::value* w = o.if_contains("wrap");
    std::optional<hsm::WrapMethod> parsed;
    if (w != nullptr && w->is_object()) {
      parsed = hsm::ParseWrapMethod(Str(w->as_object(), "mechanism"),
                                    Str(w->as_object(), "padding"));
    }
    if (!parsed) return Damaged("bad wrap mechanism");
    wrap = *parsed;
  }
  KeysBackup b;
  b.backup_id = Str(o, "backup_id");
  b.created = Str(o, "created");
  b.token_label = Str(o, "token_label");
  b.token_serial = Str(o, "token_serial");
  b.threshold = U32(o, "threshold");
  b.shares = U32(o, "shares");
  b.active_master_key_version = U32(o, "active_master_key_version");
  b.audit_key_version = U32(o, "audit_key_version");
  if (b.backup_id.size() != 32) return Damaged("bad backup id");
  const boost::json::value* keys = o.if_contains("keys");
  if (keys == nullptr || !keys->is_array() || keys->as_array().empty()) return Damaged("no keys");
  for (const boost::json::value& kv : keys->as_array()) {
    if (!kv.is_object()) return Damaged("bad key entry");
    const boost::json::object& ko = kv.as_object();
    hsm::WrappedKey k;
    const std::optional<hsm::KeyRole> role = ParseRole(Str(ko, "role"), v1);
    if (!role) return Damaged("bad key role");
    k.role = *role;
    k.version = U32(ko, "version");
    k.label = Str(ko, "label");
    const boost::json::value* ex = ko.if_contains("extractable");
    k.extractable = ex != nullptr && ex->is_bool() && ex->as_bool();
    k.check_value = Str(ko, "check_value");
    std::optional<Bytes> id = HexDecode(Str(ko, "id"));
    std::optional<Bytes> wrapped = HexDecode(Str(ko, "wrapped"));
    if (!id || !wrapped || wrapped->empty() || k.version == 0 ||
        k.label != hsm::VaultKeyLabel(k.role, k.version)) {
      return Damaged("bad key " + k.label);
    }
    k.id = std::move(*id);
    k.wrapped = std::move(*wrapped);
    k.wrap = wrap;
    b.keys.push_back(std::move(k));
  }
  return b;
}

Status AuthenticateKeysBackup(const std::string& text, const SecretBytes& ceremony_key) {
  ESCROW_ASSIGN_OR_RETURN(auto parts, Split(text));
  ESCROW_ASSIGN_OR_RETURN(KeysBackup b, ParseKeysBackup(text));
  ESCROW_ASSIGN_OR_RETURN(std::string mac, BodyMac(ceremony_key, b.backup_id, parts.first));
  if (mac.size() == parts.second.size() &&
      CRYPTO_memcmp(mac.data(), parts.second.data(), mac.size()) == 0) {
    return Status::Ok();
  }
  boost::system::error_code ec;
  const boost::json::value v = boost::json::parse(parts.first, ec);
  ESCROW_ASSIGN_OR_RETURN(std::string key_check, KeyCheck(ceremony_key, b.backup_id));
  if (!ec && v.is_object() && Str(v.as_object(), "key_check") == key_check) {
    return Status::DataLoss("keys.backup is damaged or was altered: its MAC does not verify");
  }
  return Status::DataLoss(
      "the shares do not give this backup's ceremony key: a share is wrong, forged or from "
      "another backup (or keys.backup is damaged)");
}

}  // namespace escrow::ops
