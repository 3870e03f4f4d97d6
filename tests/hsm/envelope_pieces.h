#pragma once

// An envelope's pieces made by OpenSSL's C API, independently of the token: a random
// content-encryption key encrypted to an escrow public key (PKCS#1 v1.5 or OAEP), and content
// encrypted with EVP CBC. For the [hsm] and [vault] tests of OpenEnvelope.

#include <cstdint>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "base/bytes.h"
#include "base/ssl_ptr.h"
#include "hsm/escrow_keys.h"

namespace escrow::testing {

struct EnvelopePieces {
  Bytes encrypted_key;
  Bytes iv;
  Bytes ciphertext;
  hsm::KeyTransportAlgorithm transport;
  hsm::ContentCipher cipher = hsm::ContentCipher::kAes256Cbc;

  hsm::EnvelopeToOpen ToOpen(std::uint32_t version) const {
    return {version, transport, encrypted_key, cipher, iv, ciphertext};
  }
};

inline const EVP_CIPHER* EvpCipher(hsm::ContentCipher cipher) {
  switch (cipher) {
    case hsm::ContentCipher::kAes128Cbc:
      return EVP_aes_128_cbc();
    case hsm::ContentCipher::kAes192Cbc:
      return EVP_aes_192_cbc();
    case hsm::ContentCipher::kAes256Cbc:
      return EVP_aes_256_cbc();
    case hsm::ContentCipher::kDesEde3Cbc:
      return EVP_des_ede3_cbc();
  }
  return nullptr;
}

inline const EVP_MD* EvpDigest(hsm::OaepDigest digest) {
  switch (digest) {
    case hsm::OaepDigest::kSha1:
      return EVP_sha1();
    case hsm::OaepDigest::kSha224:
      return EVP_sha224();
    case hsm::OaepDigest::kSha256:
      return EVP_sha256();
    case hsm::OaepDigest::kSha384:
      return EVP_sha384();
    case hsm::OaepDigest::kSha512:
      return EVP_sha512();
  }
  return nullptr;
}

// RSA-encrypts `cek` to the SubjectPublicKeyInfo `spki` with `transport`.
inline Bytes EncryptKey(const Bytes& spki, const hsm::KeyTransportAlgorithm& transport,
                        const Bytes& cek) {
  const unsigned char* p = spki.data();
  SslPtr<EVP_PKEY> pub(d2i_PUBKEY(nullptr, &p, static_cast<long>(spki.size())));
  REQUIRE(pub);
  SslPtr<EVP_PKEY_CTX> ctx(EVP_PKEY_CTX_new(pub.get(), nullptr));
  REQUIRE(EVP_PKEY_encrypt_init(ctx.get()) == 1);
  if (transport.scheme == hsm::KeyTransport::kRsaOaep) {
    REQUIRE(EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_OAEP_PADDING) == 1);
    REQUIRE(EVP_PKEY_CTX_set_rsa_oaep_md(ctx.get(), EvpDigest(transport.oaep_hash)) == 1);
    REQUIRE(EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.get(), EvpDigest(transport.mgf1_hash)) == 1);
  } else {
    REQUIRE(EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PADDING) == 1);
  }
  std::size_t len = 0;
  REQUIRE(EVP_PKEY_encrypt(ctx.get(), nullptr, &len, cek.data(), cek.size()) == 1);
  Bytes out(len);
  REQUIRE(EVP_PKEY_encrypt(ctx.get(), out.data(), &len, cek.data(), cek.size()) == 1);
  out.resize(len);
  return out;
}

// A random CEK of the cipher's length (or `cek_bytes`) encrypted to `spki`, and `content`
// encrypted under it with a random IV.
inline EnvelopePieces MakeEnvelope(const Bytes& spki, hsm::KeyTransportAlgorithm transport,
                                   hsm::ContentCipher cipher, std::string_view content,
                                   std::size_t cek_bytes = 0) {
  EnvelopePieces e;
  e.transport = transport;
  e.cipher = cipher;
  Bytes cek(hsm::ContentKeyBytes(cipher));
  REQUIRE(RAND_bytes(cek.data(), static_cast<int>(cek.size())) == 1);
  e.iv.resize(hsm::ContentBlockBytes(cipher));
  REQUIRE(RAND_bytes(e.iv.data(), static_cast<int>(e.iv.size())) == 1);
  SslPtr<EVP_CIPHER_CTX> ctx(EVP_CIPHER_CTX_new());
  REQUIRE(EVP_EncryptInit_ex(ctx.get(), EvpCipher(cipher), nullptr, cek.data(), e.iv.data()) ==
          1);
  e.ciphertext.resize(content.size() + e.iv.size());
  int n1 = 0;
  int n2 = 0;
  REQUIRE(EVP_EncryptUpdate(ctx.get(), e.ciphertext.data(), &n1,
                            reinterpret_cast<const unsigned char*>(content.data()),  // NOLINT
                            static_cast<int>(content.size())) == 1);
  REQUIRE(EVP_EncryptFinal_ex(ctx.get(), e.ciphertext.data() + n1, &n2) == 1);
  e.ciphertext.resize(static_cast<std::size_t>(n1) + static_cast<std::size_t>(n2));
  if (cek_bytes != 0) cek.resize(cek_bytes, 0x5a);  // the wrong length, on purpose
  e.encrypted_key = EncryptKey(spki, transport, cek);
  return e;
}

}  // namespace escrow::testing
