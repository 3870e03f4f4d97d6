#include "hsm/token_crypto.h"

#include <algorithm>
#include <array>
#include <vector>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "base/check.h"

namespace escrow::hsm {
namespace {

// PKCS#11 rejects a null data pointer even for zero bytes; the token never writes to inputs.
CK_BYTE* InputPtr(std::span<const std::uint8_t> bytes) {
  static CK_BYTE empty = 0;
  return bytes.empty() ? &empty : const_cast<CK_BYTE*>(bytes.data());  // NOLINT
}

CK_GCM_PARAMS GcmParams(std::span<const std::uint8_t> iv, std::span<const std::uint8_t> aad) {
  CK_GCM_PARAMS params{};
  params.pIv = InputPtr(iv);
  params.ulIvLen = iv.size();
  // p11-kit's header has the v2.40 errata layout with ulIvBits, as SoftHSMv2 2.6 expects.
  params.ulIvBits = iv.size() * 8;
  params.pAAD = InputPtr(aad);
  params.ulAADLen = aad.size();
  params.ulTagBits = kGcmTagBytes * 8;
  return params;
}

// Codes that say the session, token or key is gone, whatever the module: nothing to ask again.
bool SessionOrKeyGone(CK_RV rv) {
  switch (rv) {
    case CKR_SESSION_HANDLE_INVALID:
    case CKR_SESSION_CLOSED:
    case CKR_TOKEN_NOT_PRESENT:
    case CKR_DEVICE_REMOVED:
    case CKR_CRYPTOKI_NOT_INITIALIZED:
    case CKR_USER_NOT_LOGGED_IN:
    case CKR_KEY_HANDLE_INVALID:
    case CKR_OBJECT_HANDLE_INVALID:
      return true;
    default:
      return false;
  }
}

}  // namespace

Result<Sealed> GcmEncrypt(Pkcs11Session& session, CK_OBJECT_HANDLE key,
                          std::span<const std::uint8_t> plaintext,
                          std::span<const std::uint8_t> aad) {
  std::array<std::uint8_t, kGcmIvBytes> iv{};
  // The IV comes from OpenSSL's DRBG, not the token, so an HSM RNG fault cannot repeat IVs.
  if (RAND_bytes(iv.data(), static_cast<int>(iv.size())) != 1) {
    return Status::Internal("RAND_bytes failed to produce a GCM IV");
  }
  return GcmEncryptWithIv(session, key, iv, plaintext, aad);
}

Result<Sealed> GcmEncryptWithIv(Pkcs11Session& session, CK_OBJECT_HANDLE key,
                                std::span<const std::uint8_t, kGcmIvBytes> iv,
                                std::span<const std::uint8_t> plaintext,
                                std::span<const std::uint8_t> aad) {
  Sealed sealed;
  sealed.iv.assign(iv.begin(), iv.end());
  CK_GCM_PARAMS params = GcmParams(sealed.iv, aad);
  CK_MECHANISM mechanism{CKM_AES_GCM, &params, sizeof params};
  CK_RV rv = session.fns()->C_EncryptInit(session.handle(), &mechanism, key);
  ESCROW_RETURN_IF_ERROR(session.Check(rv, "C_EncryptInit"));
  std::vector<std::uint8_t> out(plaintext.size() + kGcmTagBytes);
  CK_ULONG out_len = out.size();
  rv = session.fns()->C_Encrypt(session.handle(), InputPtr(plaintext), plaintext.size(),
                                out.data(), &out_len);
  ESCROW_RETURN_IF_ERROR(session.Check(rv, "C_Encrypt"));
  if (out_len != out.size()) {
    return Status::Internal("C_Encrypt returned " + std::to_string(out_len) + " bytes, expected " +
                            std::to_string(out.size()));
  }
  const auto split = out.begin() + static_cast<std::ptrdiff_t>(plaintext.size());
  sealed.ciphertext.assign(out.begin(), split);
  sealed.tag.assign(split, out.end());
  return sealed;
}

Result<SecretBytes> GcmDecrypt(Pkcs11Session& session, CK_OBJECT_HANDLE key,
                               const Sealed& sealed, std::span<const std::uint8_t> aad) {
  ESCROW_CHECK(sealed.iv.size() == kGcmIvBytes && sealed.tag.size() == kGcmTagBytes);
  std::vector<std::uint8_t> in;
  in.reserve(sealed.ciphertext.size() + sealed.tag.size());
  in.insert(in.end(), sealed.ciphertext.begin(), sealed.ciphertext.end());
  in.insert(in.end(), sealed.tag.begin(), sealed.tag.end());

  // Room for the whole input (some tokens ask for it before they strip the tag), and never a
  // null pointer: that would make C_Decrypt a size query and leave the operation active.
  // Allocated before the operation starts: a full secure heap must not leave one active.
  SecretBytes plaintext(std::max<std::size_t>(in.size(), 1));
  CK_GCM_PARAMS params = GcmParams(sealed.iv, aad);
  CK_MECHANISM mechanism{CKM_AES_GCM, &params, sizeof params};
  CK_RV rv = session.fns()->C_DecryptInit(session.handle(), &mechanism, key);
  ESCROW_RETURN_IF_ERROR(session.Check(rv, "C_DecryptInit"));
  CK_ULONG out_len = plaintext.size();
  rv = session.fns()->C_Decrypt(session.handle(), in.data(), in.size(),
                                plaintext.mutable_span().data(), &out_len);
  ESCROW_RETURN_IF_ERROR(session.Check(rv, "C_Decrypt"));
  if (out_len != sealed.ciphertext.size()) {
    return Status::Internal("C_Decrypt returned " + std::to_string(out_len) + " bytes, expected " +
                            std::to_string(sealed.ciphertext.size()));
  }
  plaintext.Truncate(out_len);
  return plaintext;
}

Result<Mac> HmacSign(Pkcs11Session& session, CK_OBJECT_HANDLE key,
                     std::span<const std::uint8_t> data) {
  CK_MECHANISM mechanism{CKM_SHA256_HMAC, nullptr, 0};
  CK_RV rv = session.fns()->C_SignInit(session.handle(), &mechanism, key);
  ESCROW_RETURN_IF_ERROR(session.Check(rv, "C_SignInit"));
  Mac mac{};
  CK_ULONG mac_len = mac.size();
  rv = session.fns()->C_Sign(session.handle(), InputPtr(data), data.size(), mac.data(), &mac_len);
  ESCROW_RETURN_IF_ERROR(session.Check(rv, "C_Sign"));
  if (mac_len != mac.size()) {
    return Status::Internal("C_Sign returned " + std::to_string(mac_len) + " bytes, expected 32");
  }
  return mac;
}

Status HmacVerify(Pkcs11Session& session, CK_OBJECT_HANDLE key,
                  std::span<const std::uint8_t> data, std::span<const std::uint8_t> mac) {
  if (mac.size() != std::tuple_size_v<Mac>) {
    return Status::DataLoss("MAC has " + std::to_string(mac.size()) + " bytes, expected 32");
  }
  CK_MECHANISM mechanism{CKM_SHA256_HMAC, nullptr, 0};
  CK_RV rv = session.fns()->C_VerifyInit(session.handle(), &mechanism, key);
  ESCROW_RETURN_IF_ERROR(session.Check(rv, "C_VerifyInit"));
  rv = session.fns()->C_Verify(session.handle(), InputPtr(data), data.size(), InputPtr(mac),
                               mac.size());
  if (rv == CKR_SIGNATURE_INVALID || rv == CKR_SIGNATURE_LEN_RANGE) {
    return Status::DataLoss("MAC does not verify");
  }
  if (rv != CKR_OK && !SessionOrKeyGone(rv)) {
    // NSS's softoken answers a wrong HMAC with whatever error its thread last recorded
    // (CKR_ARGUMENTS_BAD, CKR_DEVICE_ERROR, ...: its compare sets none of its own). So on any
    // failure that does not say the session or key is gone, ask the token for the MAC and
    // compare: a MAC is no secret (the vault stores them), and the token still computes it. A
    // different MAC does not verify; an equal one leaves the module's error standing.
    Result<Mac> expected = HmacSign(session, key, data);
    if (!expected.ok()) return expected.status();
    if (CRYPTO_memcmp(expected->data(), mac.data(), mac.size()) != 0) {
      return Status::DataLoss("MAC does not verify");
    }
  }
  return session.Check(rv, "C_Verify");
}

}  // namespace escrow::hsm
