#include "hsm/known_answer.h"

#include <array>
#include <cstdint>
#include <string_view>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "base/bytes.h"
#include "hsm/ck_error.h"
#include "hsm/token_crypto.h"

namespace escrow::hsm {
namespace {

constexpr std::array<std::uint8_t, 32> kProbePlaintext = {
    0x65, 0x73, 0x63, 0x72, 0x6f, 0x77, 0x2d, 0x70, 0x72, 0x6f, 0x62, 0x65, 0x00, 0x01, 0x02, 0x03,
    0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0xf0, 0xe1, 0xd2, 0xc3};
constexpr std::string_view kProbeAad = "escrow-hsm-known-answer-probe/aad";
constexpr std::string_view kProbeHmacData = "escrow-hsm-known-answer-probe/hmac";

Status ProbeFailed(std::string_view step, const Status& cause) {
  return Status::Unavailable("HSM failed its known-answer probe (" + std::string(step) +
                             "): " + cause.message());
}

Status ProbeFailed(std::string_view step) {
  return Status::Unavailable("HSM failed its known-answer probe (" + std::string(step) + ")");
}

Status CheckGcm(Pkcs11Session& session, CK_OBJECT_HANDLE master_key) {
  Result<Sealed> sealed = GcmEncrypt(session, master_key, kProbePlaintext, AsBytes(kProbeAad));
  if (!sealed.ok()) return ProbeFailed("encrypt", sealed.status());
  if (sealed->ciphertext.size() != kProbePlaintext.size() ||
      CRYPTO_memcmp(sealed->ciphertext.data(), kProbePlaintext.data(), kProbePlaintext.size()) ==
          0) {
    return ProbeFailed("encrypt returned the plaintext");
  }
  Result<SecretBytes> opened = GcmDecrypt(session, master_key, *sealed, AsBytes(kProbeAad));
  if (!opened.ok()) return ProbeFailed("decrypt", opened.status());
  if (opened->size() != kProbePlaintext.size() ||
      CRYPTO_memcmp(opened->RevealSecret().data(), kProbePlaintext.data(),
                    kProbePlaintext.size()) != 0) {
    return ProbeFailed("decrypt returned other bytes");
  }
  // A token that accepts a forged tag would let any edited record through.
  sealed->tag.front() ^= 0x01;
  Result<SecretBytes> forged = GcmDecrypt(session, master_key, *sealed, AsBytes(kProbeAad));
  if (forged.ok()) return ProbeFailed("decrypt accepted a forged tag");
  if (IsSessionLevelError(session.last_error())) return ProbeFailed("forged tag", forged.status());
  return Status::Ok();
}

Status CheckHmac(Pkcs11Session& session) {
  std::array<std::uint8_t, 32> key_value{};
  for (std::size_t i = 0; i < key_value.size(); ++i) {
    key_value[i] = static_cast<std::uint8_t>(0xa5 ^ i);
  }
  CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
  CK_KEY_TYPE type = CKK_GENERIC_SECRET;
  CK_BBOOL yes = CK_TRUE;
  CK_BBOOL no = CK_FALSE;
  CK_ATTRIBUTE attrs[] = {
      {CKA_CLASS, &cls, sizeof cls},   {CKA_KEY_TYPE, &type, sizeof type},
      {CKA_TOKEN, &no, sizeof no},     {CKA_PRIVATE, &yes, sizeof yes},
      {CKA_SIGN, &yes, sizeof yes},    {CKA_VERIFY, &yes, sizeof yes},
      {CKA_VALUE, key_value.data(), key_value.size()},
  };
  CK_OBJECT_HANDLE handle = CK_INVALID_HANDLE;
  const CK_RV rv =
      session.fns()->C_CreateObject(session.handle(), attrs, std::size(attrs), &handle);
  if (Status s = session.Check(rv, "C_CreateObject"); !s.ok()) return ProbeFailed("hmac key", s);
  ScopedObject key(session, handle);

  const std::span<const std::uint8_t> data = AsBytes(kProbeHmacData);
  Mac expected{};
  unsigned int expected_len = 0;
  if (HMAC(EVP_sha256(), key_value.data(), static_cast<int>(key_value.size()), data.data(),
           data.size(), expected.data(), &expected_len) == nullptr ||
      expected_len != expected.size()) {
    return Status::Internal("OpenSSL HMAC failed");
  }
  Result<Mac> mac = HmacSign(session, key.get(), data);
  if (!mac.ok()) return ProbeFailed("hmac", mac.status());
  if (CRYPTO_memcmp(mac->data(), expected.data(), expected.size()) != 0) {
    return ProbeFailed("hmac returned a wrong MAC");
  }
  expected.back() ^= 0x80;
  Status forged = HmacVerify(session, key.get(), data, expected);
  if (forged.code() != Code::kDataLoss) {
    return forged.ok() ? ProbeFailed("verify accepted a wrong MAC")
                       : ProbeFailed("verify", forged);
  }
  return Status::Ok();
}

}  // namespace

Status RunKnownAnswerTests(Pkcs11Session& session, CK_OBJECT_HANDLE master_key) {
  ESCROW_RETURN_IF_ERROR(CheckGcm(session, master_key));
  return CheckHmac(session);
}

}  // namespace escrow::hsm
