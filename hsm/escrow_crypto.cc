#include "hsm/escrow_crypto.h"

#include <algorithm>
#include <array>
#include <optional>
#include <string>
#include <vector>

#include <openssl/evp.h>

#include "base/ssl_ptr.h"
#include "hsm/ck_error.h"

namespace escrow::hsm {
namespace {

CK_BBOOL kTrue = CK_TRUE;    // NOLINT: PKCS#11 templates take non-const pointers
CK_BBOOL kFalse = CK_FALSE;  // NOLINT

constexpr std::size_t kP256ScalarBytes = 32;
constexpr std::string_view kCekLabel = "escrow-envelope-cek";

template <class T>
CK_ATTRIBUTE Attr(CK_ATTRIBUTE_TYPE type, T* ptr) {
  return {type, ptr, sizeof(T)};
}

// PKCS#11 takes non-const input pointers; the token never writes to inputs.
CK_BYTE* InputPtr(std::span<const std::uint8_t> bytes) {
  static CK_BYTE empty = 0;
  return bytes.empty() ? &empty : const_cast<CK_BYTE*>(bytes.data());  // NOLINT
}

OpenedEnvelope Failed(EnvelopeCause cause) { return {EnvelopeFailure(cause), cause}; }

// The content-encryption key's template, for C_UnwrapKey and for the stand-in C_GenerateKey:
// a session object (gone with the session at the latest), sensitive, never extractable, and
// able to do one thing: decrypt this envelope's content. No CKA_ENCRYPT, so it cannot be used
// to forge content either.
class CekTemplate {
 public:
  CekTemplate(ContentCipher cipher, bool with_length)
      : type_(cipher == ContentCipher::kDesEde3Cbc ? CKK_DES3 : CKK_AES),
        length_(ContentKeyBytes(cipher)),
        label_(kCekLabel) {
    attrs_ = {
        Attr(CKA_CLASS, &cls_),        Attr(CKA_KEY_TYPE, &type_),
        Attr(CKA_TOKEN, &kFalse),      Attr(CKA_PRIVATE, &kTrue),
        Attr(CKA_SENSITIVE, &kTrue),   Attr(CKA_EXTRACTABLE, &kFalse),
        Attr(CKA_DECRYPT, &kTrue),     Attr(CKA_ENCRYPT, &kFalse),
        Attr(CKA_SIGN, &kFalse),       Attr(CKA_VERIFY, &kFalse),
        Attr(CKA_WRAP, &kFalse),       Attr(CKA_UNWRAP, &kFalse),
        Attr(CKA_DERIVE, &kFalse),     {CKA_LABEL, label_.data(), label_.size()},
    };
    // CKA_VALUE_LEN exists for AES only (a DES3 key is 24 bytes by type).
    if (with_length && type_ == CKK_AES) attrs_.push_back(Attr(CKA_VALUE_LEN, &length_));
  }
  CekTemplate(const CekTemplate&) = delete;  // attrs_ points into this object
  CekTemplate& operator=(const CekTemplate&) = delete;
  CekTemplate(CekTemplate&&) = delete;
  CekTemplate& operator=(CekTemplate&&) = delete;
  ~CekTemplate() = default;

  CK_ATTRIBUTE* data() { return attrs_.data(); }
  CK_ULONG size() const { return attrs_.size(); }
  CK_KEY_TYPE type() const { return type_; }

 private:
  CK_OBJECT_CLASS cls_ = CKO_SECRET_KEY;
  CK_KEY_TYPE type_;
  CK_ULONG length_;
  std::string label_;
  std::vector<CK_ATTRIBUTE> attrs_;
};

}  // namespace

Result<Bytes> EcdsaSignSha256(Pkcs11Session& session, CK_OBJECT_HANDLE key,
                              std::span<const std::uint8_t> data) {
  std::array<std::uint8_t, EVP_MAX_MD_SIZE> digest{};
  unsigned int digest_len = 0;
  if (EVP_Digest(data.data(), data.size(), digest.data(), &digest_len, EVP_sha256(), nullptr) !=
      1) {
    return Status::Internal("SHA-256 failed");
  }
  CK_MECHANISM mechanism{CKM_ECDSA, nullptr, 0};
  CK_RV rv = session.fns()->C_SignInit(session.handle(), &mechanism, key);
  ESCROW_RETURN_IF_ERROR(session.Check(rv, "C_SignInit (ECDSA)"));
  std::array<std::uint8_t, 2 * kP256ScalarBytes> raw{};
  CK_ULONG raw_len = raw.size();
  rv = session.fns()->C_Sign(session.handle(), digest.data(), digest_len, raw.data(), &raw_len);
  ESCROW_RETURN_IF_ERROR(session.Check(rv, "C_Sign (ECDSA)"));
  if (raw_len != raw.size()) {
    return Status::Internal("C_Sign returned " + std::to_string(raw_len) + " bytes, expected 64");
  }
  // PKCS#11 gives r||s; X.509 wants SEQUENCE { INTEGER r, INTEGER s }.
  SslPtr<ECDSA_SIG> sig(ECDSA_SIG_new());
  SslPtr<BIGNUM> r(BN_bin2bn(raw.data(), kP256ScalarBytes, nullptr));
  SslPtr<BIGNUM> s(BN_bin2bn(raw.data() + kP256ScalarBytes, kP256ScalarBytes, nullptr));
  if (!sig || !r || !s || ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) {
    return Status::Internal("ECDSA_SIG_set0 failed");
  }
  (void)r.release();  // owned by sig now
  (void)s.release();
  const int len = i2d_ECDSA_SIG(sig.get(), nullptr);
  if (len <= 0) return Status::Internal("i2d_ECDSA_SIG failed");
  Bytes der(static_cast<std::size_t>(len));
  unsigned char* out = der.data();
  if (i2d_ECDSA_SIG(sig.get(), &out) != len) return Status::Internal("i2d_ECDSA_SIG failed");
  return der;
}

bool OaepSupported(OaepDigest hash, OaepDigest mgf1_hash) {
  return hash == OaepDigest::kSha1 && mgf1_hash == OaepDigest::kSha1;
}

OpenedEnvelope OpenEnvelopeInToken(Pkcs11Session& session, CK_OBJECT_HANDLE unwrapping_key,
                                   const EnvelopeToOpen& envelope) {
  const ContentCipher cipher = envelope.cipher;
  const std::size_t block = ContentBlockBytes(cipher);
  // Public sizes only: nothing here depends on a secret, so answering early leaks nothing.
  if (envelope.iv.size() != block || envelope.ciphertext.empty() ||
      envelope.ciphertext.size() % block != 0 || envelope.encrypted_key.empty()) {
    return Failed(EnvelopeCause::kMalformed);
  }
  CK_RSA_PKCS_OAEP_PARAMS oaep{CKM_SHA_1, CKG_MGF1_SHA1, CKZ_DATA_SPECIFIED, nullptr, 0};
  CK_MECHANISM unwrap{CKM_RSA_PKCS, nullptr, 0};
  if (envelope.key_transport.scheme == KeyTransport::kRsaOaep) {
    if (!OaepSupported(envelope.key_transport.oaep_hash, envelope.key_transport.mgf1_hash)) {
      return Failed(EnvelopeCause::kMechanismUnsupported);
    }
    unwrap = {CKM_RSA_PKCS_OAEP, &oaep, sizeof oaep};
  }
  // Before any operation starts: a full secure heap must not leave one active.
  SecretBytes plaintext(envelope.ciphertext.size());

  // 1. The content-encryption key, unwrapped inside the token. Which CKR_ a bad block gives
  // differs by module (and a damaged PKCS#1 block may even unwrap): every failure is the same
  // "unwrap" and goes on as below. The unwrapped key's length cannot be checked: SoftHSMv2
  // refuses CKA_VALUE_LEN in an unwrap template (CKR_ATTRIBUTE_READ_ONLY), leaves it 0, and
  // takes the AES variant from the key's (sensitive) length. A key of the wrong length is
  // simply a wrong key: the content fails its padding, or (1 in ~256, as for any wrong key in
  // CBC) decrypts to garbage that the caller's key-format check refuses.
  CekTemplate unwrap_template(cipher, false);
  CK_OBJECT_HANDLE cek = CK_INVALID_HANDLE;
  CK_RV rv = session.fns()->C_UnwrapKey(
      session.handle(), &unwrap, unwrapping_key, InputPtr(envelope.encrypted_key),
      envelope.encrypted_key.size(), unwrap_template.data(), unwrap_template.size(), &cek);
  if (IsSessionLevelError(rv)) {
    (void)session.Check(rv, "C_UnwrapKey");
    return Failed(EnvelopeCause::kHsmUnavailable);
  }
  std::optional<ScopedObject> cek_object;  // destroys the key on every path below
  if (rv == CKR_OK) cek_object.emplace(session, cek);
  const bool unwrapped = rv == CKR_OK;

  // 2. No padding oracle: without a key of the right type and length, decrypt under a fresh
  // random one, so that an unwrap failure costs what a content failure costs.
  std::optional<ScopedObject> stand_in;
  if (!unwrapped) {
    CekTemplate generate_template(cipher, true);
    CK_MECHANISM gen{cipher == ContentCipher::kDesEde3Cbc ? CKM_DES3_KEY_GEN : CKM_AES_KEY_GEN,
                     nullptr, 0};
    CK_OBJECT_HANDLE random_key = CK_INVALID_HANDLE;
    rv = session.fns()->C_GenerateKey(session.handle(), &gen, generate_template.data(),
                                      generate_template.size(), &random_key);
    if (rv != CKR_OK) {
      if (IsSessionLevelError(rv)) {
        (void)session.Check(rv, "C_GenerateKey");
        return Failed(EnvelopeCause::kHsmUnavailable);
      }
      return Failed(EnvelopeCause::kUnwrap);
    }
    stand_in.emplace(session, random_key);
  }
  const CK_OBJECT_HANDLE decrypt_key = unwrapped ? cek : stand_in->get();

  // 3. The content, decrypted inside the token straight into secure memory.
  std::array<CK_BYTE, 16> iv{};
  std::copy(envelope.iv.begin(), envelope.iv.end(), iv.begin());
  CK_MECHANISM decrypt{cipher == ContentCipher::kDesEde3Cbc ? CKM_DES3_CBC_PAD : CKM_AES_CBC_PAD,
                       iv.data(), block};
  CK_ULONG out_len = plaintext.size();
  rv = session.fns()->C_DecryptInit(session.handle(), &decrypt, decrypt_key);
  if (rv == CKR_OK) {
    rv = session.fns()->C_Decrypt(session.handle(), InputPtr(envelope.ciphertext),
                                  envelope.ciphertext.size(), plaintext.mutable_span().data(),
                                  &out_len);
  }
  if (IsSessionLevelError(rv)) {
    (void)session.Check(rv, "C_Decrypt");
    return Failed(EnvelopeCause::kHsmUnavailable);
  }
  if (!unwrapped) return Failed(EnvelopeCause::kUnwrap);  // whatever the stand-in gave
  if (rv != CKR_OK || out_len > plaintext.size()) return Failed(EnvelopeCause::kDecrypt);
  plaintext.Truncate(out_len);
  return {std::move(plaintext), EnvelopeCause::kNone};
}

}  // namespace escrow::hsm
