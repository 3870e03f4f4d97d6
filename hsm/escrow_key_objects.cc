#include "hsm/escrow_key_objects.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <string>
#include <tuple>

#include <openssl/core_names.h>

#include "base/ssl_ptr.h"
#include "hsm/key_objects.h"

namespace escrow::hsm {
namespace {

CK_BBOOL kTrue = CK_TRUE;    // NOLINT: PKCS#11 templates take non-const pointers
CK_BBOOL kFalse = CK_FALSE;  // NOLINT

// DER of the OID prime256v1 (1.2.840.10045.3.1.7), the signing keys' only curve.
constexpr std::array<std::uint8_t, 10> kP256Params{0x06, 0x08, 0x2a, 0x86, 0x48,
                                                   0xce, 0x3d, 0x03, 0x01, 0x07};
constexpr std::size_t kP256PointBytes = 65;  // 04 || x || y

template <class T>
CK_ATTRIBUTE Attr(CK_ATTRIBUTE_TYPE type, T* ptr) {
  return {type, ptr, sizeof(T)};
}
CK_ATTRIBUTE Attr(CK_ATTRIBUTE_TYPE type, std::string& text) {
  return {type, text.data(), text.size()};
}

CK_KEY_TYPE KeyTypeOf(EscrowKeyKind kind) { return kind == EscrowKeyKind::kCms ? CKK_RSA : CKK_EC; }

Result<CK_OBJECT_HANDLE> FindHalf(Pkcs11Session& session, CK_OBJECT_CLASS cls, EscrowKeyKind kind,
                                  std::uint32_t version) {
  return FindLabelledObject(session, cls, KeyTypeOf(kind), EscrowKeyLabel(kind, version),
                            "objects");
}

Result<bool> ReadBool(Pkcs11Session& session, CK_OBJECT_HANDLE object, CK_ATTRIBUTE_TYPE type) {
  CK_BBOOL flag = CK_FALSE;
  CK_ATTRIBUTE attr = Attr(type, &flag);
  const CK_RV rv = session.fns()->C_GetAttributeValue(session.handle(), object, &attr, 1);
  ESCROW_RETURN_IF_ERROR(session.Check(rv, "C_GetAttributeValue"));
  return flag == CK_TRUE;
}

Result<Bytes> Spki(const EVP_PKEY& key) {
  const int len = i2d_PUBKEY(&key, nullptr);
  if (len <= 0) return Status::Internal("i2d_PUBKEY failed");
  Bytes der(static_cast<std::size_t>(len));
  unsigned char* out = der.data();
  if (i2d_PUBKEY(&key, &out) != len) return Status::Internal("i2d_PUBKEY failed");
  return der;
}

Result<SslPtr<EVP_PKEY>> FromParams(const char* type, OSSL_PARAM_BLD& bld) {
  SslPtr<OSSL_PARAM> params(OSSL_PARAM_BLD_to_param(&bld));
  SslPtr<EVP_PKEY_CTX> ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* raw = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    return Status::Internal(std::string("the token's ") + type + " public key does not load");
  }
  return SslPtr<EVP_PKEY>(raw);
}

Result<SslPtr<EVP_PKEY>> RsaPublicKey(Pkcs11Session& session, CK_OBJECT_HANDLE pub) {
  ESCROW_ASSIGN_OR_RETURN(Bytes modulus, ReadAttributeBytes(session, pub, CKA_MODULUS));
  ESCROW_ASSIGN_OR_RETURN(Bytes exponent, ReadAttributeBytes(session, pub, CKA_PUBLIC_EXPONENT));
  SslPtr<BIGNUM> n(BN_bin2bn(modulus.data(), static_cast<int>(modulus.size()), nullptr));
  SslPtr<BIGNUM> e(BN_bin2bn(exponent.data(), static_cast<int>(exponent.size()), nullptr));
  SslPtr<OSSL_PARAM_BLD> bld(OSSL_PARAM_BLD_new());
  if (modulus.empty() || exponent.empty() || !n || !e || !bld ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, e.get()) != 1) {
    return Status::Internal("the token's RSA public key is unreadable");
  }
  return FromParams("RSA", *bld);
}

Result<SslPtr<EVP_PKEY>> EcPublicKey(Pkcs11Session& session, CK_OBJECT_HANDLE pub) {
  ESCROW_ASSIGN_OR_RETURN(Bytes encoded, ReadAttributeBytes(session, pub, CKA_EC_POINT));
  // PKCS#11 says DER OCTET STRING around the point (SoftHSMv2 does so); some modules give the
  // bare point. Accept exactly those two shapes.
  Bytes point = encoded;
  if (encoded.size() == kP256PointBytes + 2 && encoded[0] == 0x04 &&
      encoded[1] == kP256PointBytes) {
    point.assign(encoded.begin() + 2, encoded.end());
  }
  SslPtr<OSSL_PARAM_BLD> bld(OSSL_PARAM_BLD_new());
  if (point.size() != kP256PointBytes || point[0] != 0x04 || !bld ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) !=
          1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                       point.size()) != 1) {
    return Status::Internal("the token's EC public key is not an uncompressed P-256 point");
  }
  return FromParams("EC", *bld);
}

}  // namespace

std::optional<LabelledEscrowKey> ParseEscrowKeyLabel(std::string_view label) {
  std::optional<EscrowKeyKind> kind;
  for (const EscrowKeyKind k :
       {EscrowKeyKind::kCms, EscrowKeyKind::kCa, EscrowKeyKind::kAuditSign}) {
    const std::string_view prefix = EscrowKeyLabelPrefix(k);
    if (label.starts_with(prefix)) {
      kind = k;
      label.remove_prefix(prefix.size());
      break;
    }
  }
  if (!kind) return std::nullopt;
  if (label.empty() || (label.size() > 1 && label.front() == '0')) return std::nullopt;
  if (!std::all_of(label.begin(), label.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  std::uint32_t version = 0;
  const auto [end, ec] = std::from_chars(label.data(), label.data() + label.size(), version);
  if (ec != std::errc() || end != label.data() + label.size()) return std::nullopt;
  return LabelledEscrowKey{*kind, version};
}

Result<EscrowKeyPair> GenerateCmsKeyPair(Pkcs11Session& session, std::uint32_t version,
                                         std::uint32_t bits) {
  std::string label = EscrowKeyLabel(EscrowKeyKind::kCms, version);
  std::string id = label;
  CK_ULONG modulus_bits = bits;
  std::array<CK_BYTE, 3> exponent{0x01, 0x00, 0x01};
  // The public half only carries the key for certificates: the vault never encrypts with it.
  CK_ATTRIBUTE pub[] = {
      Attr(CKA_TOKEN, &kTrue),          Attr(CKA_PRIVATE, &kFalse),
      Attr(CKA_MODULUS_BITS, &modulus_bits),
      {CKA_PUBLIC_EXPONENT, exponent.data(), exponent.size()},
      Attr(CKA_ENCRYPT, &kFalse),       Attr(CKA_WRAP, &kFalse),
      Attr(CKA_VERIFY, &kFalse),        Attr(CKA_VERIFY_RECOVER, &kFalse),
      Attr(CKA_DERIVE, &kFalse),        Attr(CKA_LABEL, label),
      Attr(CKA_ID, id),
  };
  // One job: C_UnwrapKey of a content-encryption key, which then stays in the token. With
  // CKA_DECRYPT the key would hand any RSA plaintext (and a PKCS#1 oracle) to the caller; with
  // CKA_SIGN it could sign as anyone who trusts the certificate.
  CK_ATTRIBUTE priv[] = {
      Attr(CKA_TOKEN, &kTrue),       Attr(CKA_PRIVATE, &kTrue),
      Attr(CKA_SENSITIVE, &kTrue),   Attr(CKA_EXTRACTABLE, &kFalse),
      Attr(CKA_WRAP_WITH_TRUSTED, &kTrue),
      Attr(CKA_UNWRAP, &kTrue),      Attr(CKA_DECRYPT, &kFalse),
      Attr(CKA_SIGN, &kFalse),       Attr(CKA_SIGN_RECOVER, &kFalse),
      Attr(CKA_DERIVE, &kFalse),     Attr(CKA_LABEL, label),
      Attr(CKA_ID, id),
  };
  CK_MECHANISM mechanism{CKM_RSA_PKCS_KEY_PAIR_GEN, nullptr, 0};
  EscrowKeyPair pair;
  const CK_RV rv = session.fns()->C_GenerateKeyPair(session.handle(), &mechanism, pub,
                                                    std::size(pub), priv, std::size(priv),
                                                    &pair.public_key, &pair.private_key);
  ESCROW_RETURN_IF_ERROR(session.Check(rv, "C_GenerateKeyPair (RSA)"));
  return pair;
}

Result<EscrowKeyPair> GenerateSigningKeyPair(Pkcs11Session& session, EscrowKeyKind kind,
                                             std::uint32_t version) {
  if (!IsSigningKind(kind)) return Status::InvalidArgument("not a signing key kind");
  std::string label = EscrowKeyLabel(kind, version);
  std::string id = label;
  std::array<CK_BYTE, kP256Params.size()> params{};
  std::copy(kP256Params.begin(), kP256Params.end(), params.begin());
  // The public half may verify: NSS's softoken checks each new signing pair by signing and
  // verifying with it (CKR_KEY_TYPE_INCONSISTENT otherwise), and a public key that verifies
  // gives nothing away (the certificate carries it to anyone).
  CK_ATTRIBUTE pub[] = {
      Attr(CKA_TOKEN, &kTrue),     Attr(CKA_PRIVATE, &kFalse),
      {CKA_EC_PARAMS, params.data(), params.size()},
      Attr(CKA_VERIFY, &kTrue),    Attr(CKA_ENCRYPT, &kFalse),
      Attr(CKA_WRAP, &kFalse),     Attr(CKA_DERIVE, &kFalse),
      Attr(CKA_LABEL, label),      Attr(CKA_ID, id),
  };
  // One job: signing (certificates' TBS hashes for the CA key, checkpoints for the audit
  // signing key). No decrypt, unwrap or derive (ECDH).
  CK_ATTRIBUTE priv[] = {
      Attr(CKA_TOKEN, &kTrue),       Attr(CKA_PRIVATE, &kTrue),
      Attr(CKA_SENSITIVE, &kTrue),   Attr(CKA_EXTRACTABLE, &kFalse),
      Attr(CKA_WRAP_WITH_TRUSTED, &kTrue),
      Attr(CKA_SIGN, &kTrue),        Attr(CKA_SIGN_RECOVER, &kFalse),
      Attr(CKA_DECRYPT, &kFalse),    Attr(CKA_UNWRAP, &kFalse),
      Attr(CKA_DERIVE, &kFalse),     Attr(CKA_LABEL, label),
      Attr(CKA_ID, id),
  };
  CK_MECHANISM mechanism{CKM_EC_KEY_PAIR_GEN, nullptr, 0};
  EscrowKeyPair pair;
  const CK_RV rv = session.fns()->C_GenerateKeyPair(session.handle(), &mechanism, pub,
                                                    std::size(pub), priv, std::size(priv),
                                                    &pair.public_key, &pair.private_key);
  ESCROW_RETURN_IF_ERROR(session.Check(rv, "C_GenerateKeyPair (EC)"));
  return pair;
}

Result<EscrowKeyPair> FindEscrowKeyPair(Pkcs11Session& session, EscrowKeyKind kind,
                                        std::uint32_t version) {
  EscrowKeyPair pair;
  ESCROW_ASSIGN_OR_RETURN(pair.private_key, FindHalf(session, CKO_PRIVATE_KEY, kind, version));
  ESCROW_ASSIGN_OR_RETURN(pair.public_key, FindHalf(session, CKO_PUBLIC_KEY, kind, version));
  return pair;
}

Result<EscrowKeyInfo> ReadEscrowKeyInfo(Pkcs11Session& session, const EscrowKeyPair& pair,
                                        EscrowKeyKind kind, std::uint32_t version) {
  EscrowKeyInfo info;
  info.kind = kind;
  info.version = version;
  info.label = EscrowKeyLabel(kind, version);
  Result<SslPtr<EVP_PKEY>> key = kind == EscrowKeyKind::kCms
                                     ? RsaPublicKey(session, pair.public_key)
                                     : EcPublicKey(session, pair.public_key);
  if (!key.ok()) return key.status();
  ESCROW_ASSIGN_OR_RETURN(info.public_key_der, Spki(**key));
  info.bits = static_cast<std::uint32_t>(EVP_PKEY_get_bits(key->get()));
  ESCROW_ASSIGN_OR_RETURN(info.sensitive, ReadBool(session, pair.private_key, CKA_SENSITIVE));
  ESCROW_ASSIGN_OR_RETURN(info.extractable, ReadBool(session, pair.private_key, CKA_EXTRACTABLE));
  return info;
}

Result<std::vector<EscrowKeyInfo>> ListEscrowKeyPairs(Pkcs11Session& session) {
  CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
  CK_ATTRIBUTE attrs[] = {Attr(CKA_CLASS, &cls), Attr(CKA_TOKEN, &kTrue)};
  ESCROW_ASSIGN_OR_RETURN(std::vector<CK_OBJECT_HANDLE> found, FindObjects(session, attrs));
  std::vector<EscrowKeyInfo> keys;
  for (const CK_OBJECT_HANDLE object : found) {
    ESCROW_ASSIGN_OR_RETURN(Bytes label, ReadAttributeBytes(session, object, CKA_LABEL));
    const std::optional<LabelledEscrowKey> parsed = ParseEscrowKeyLabel(
        std::string_view(reinterpret_cast<const char*>(label.data()), label.size()));  // NOLINT
    if (!parsed) continue;
    Result<EscrowKeyPair> pair = FindEscrowKeyPair(session, parsed->kind, parsed->version);
    if (!pair.ok()) {
      // Half a pair, or two objects under one label, is not a key of ours: skipped, as
      // ListKeyObjects skips other objects under the vault's names.
      const Code code = pair.status().code();
      if (code == Code::kNotFound || code == Code::kFailedPrecondition) continue;
      return pair.status();
    }
    ESCROW_ASSIGN_OR_RETURN(EscrowKeyInfo info,
                            ReadEscrowKeyInfo(session, *pair, parsed->kind, parsed->version));
    keys.push_back(std::move(info));
  }
  std::sort(keys.begin(), keys.end(), [](const EscrowKeyInfo& a, const EscrowKeyInfo& b) {
    return std::tie(a.kind, a.version) < std::tie(b.kind, b.version);
  });
  return keys;
}

}  // namespace escrow::hsm
