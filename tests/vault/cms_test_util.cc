#include "tests/vault/cms_test_util.h"

#include <catch2/catch.hpp>

#include <fstream>
#include <memory>

#include <openssl/pem.h>
#include <openssl/rsa.h>

namespace escrow::vault::testing {
namespace {

using escrow::testing::ReadFileBytes;
using escrow::testing::RunCommand;

struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* p) const noexcept { EVP_CIPHER_CTX_free(p); }
};

std::string Q(const std::string& s) { return "'" + s + "'"; }

void WriteFile(const std::string& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

const EVP_MD* Md(OaepHash hash) {
  switch (hash) {
    case OaepHash::kSha1: return EVP_sha1();
    case OaepHash::kSha256: return EVP_sha256();
    case OaepHash::kSha384: return EVP_sha384();
    case OaepHash::kSha512: return EVP_sha512();
  }
  return nullptr;
}

const EVP_CIPHER* Cipher(ContentCipher cipher) {
  switch (cipher) {
    case ContentCipher::kAes128Cbc: return EVP_aes_128_cbc();
    case ContentCipher::kAes192Cbc: return EVP_aes_192_cbc();
    case ContentCipher::kAes256Cbc: return EVP_aes_256_cbc();
    case ContentCipher::kDesEde3Cbc: return EVP_des_ede3_cbc();
  }
  return nullptr;
}

std::unique_ptr<CmsKeys> MakeKeys() {
  auto keys = std::make_unique<CmsKeys>();
  for (int i = 0; i < 2; ++i) {
    const std::string base = keys->dir.str() + "/escrow" + std::to_string(i);
    keys->cert_path[i] = base + ".crt";
    REQUIRE(RunCommand("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=escrow-cms-" +
                       std::to_string(i) + " -keyout " + Q(base + ".key") + " -out " +
                       Q(keys->cert_path[i]) + " 2>/dev/null") == 0);
    const SslPtr<BIO> cert_bio(BIO_new_file(keys->cert_path[i].c_str(), "r"));
    keys->cert[i].reset(PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr));
    const SslPtr<BIO> key_bio(BIO_new_file((base + ".key").c_str(), "r"));
    keys->key[i].reset(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
    REQUIRE(keys->cert[i] != nullptr);
    REQUIRE(keys->key[i] != nullptr);
  }
  return keys;
}

}  // namespace

const CmsKeys& Keys() {
  static const std::unique_ptr<CmsKeys> keys = MakeKeys();
  return *keys;
}

Bytes OpensslToFile(const std::string& command) {
  const std::string out = Keys().dir.str() + "/out.der";
  std::filesystem::remove(out);
  std::string cmd = command;
  cmd.replace(cmd.find("{out}"), 5, Q(out));
  REQUIRE(RunCommand(cmd) == 0);
  const std::string bytes = ReadFileBytes(out);
  return {bytes.begin(), bytes.end()};
}

Bytes OpensslCms(const std::string& args, std::string_view plaintext) {
  const std::string in = Keys().dir.str() + "/plain.txt";
  WriteFile(in, plaintext);
  return OpensslToFile("openssl cms -encrypt -binary -outform DER -in " + Q(in) +
                       " -out {out} " + args);
}

std::string OpenInSoftware(const Envelope& envelope, std::size_t index, EVP_PKEY* key) {
  const Recipient& r = envelope.recipients.at(index);
  const SslPtr<EVP_PKEY_CTX> pctx(EVP_PKEY_CTX_new(key, nullptr));
  if (EVP_PKEY_decrypt_init(pctx.get()) != 1) return {};
  if (r.key_encryption == KeyEncryption::kRsaOaep) {
    if (EVP_PKEY_CTX_set_rsa_padding(pctx.get(), RSA_PKCS1_OAEP_PADDING) != 1 ||
        EVP_PKEY_CTX_set_rsa_oaep_md(pctx.get(), Md(r.oaep_hash)) != 1 ||
        EVP_PKEY_CTX_set_rsa_mgf1_md(pctx.get(), Md(r.mgf1_hash)) != 1) {
      return {};
    }
  } else if (EVP_PKEY_CTX_set_rsa_padding(pctx.get(), RSA_PKCS1_PADDING) != 1) {
    return {};
  }
  Bytes cek(512);
  std::size_t cek_len = cek.size();
  if (EVP_PKEY_decrypt(pctx.get(), cek.data(), &cek_len, r.encrypted_key.data(),
                       r.encrypted_key.size()) != 1 ||
      cek_len != CipherKeyBytes(envelope.cipher)) {
    return {};
  }
  const std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree> ctx(EVP_CIPHER_CTX_new());
  std::string out(envelope.encrypted_content.size() + 32, '\0');
  int n1 = 0;
  int n2 = 0;
  auto* out_bytes = reinterpret_cast<unsigned char*>(out.data());
  if (EVP_DecryptInit_ex(ctx.get(), Cipher(envelope.cipher), nullptr, cek.data(),
                         envelope.iv.data()) != 1 ||
      EVP_DecryptUpdate(ctx.get(), out_bytes, &n1, envelope.encrypted_content.data(),
                        static_cast<int>(envelope.encrypted_content.size())) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), out_bytes + n1, &n2) != 1) {
    return {};
  }
  out.resize(static_cast<std::size_t>(n1) + static_cast<std::size_t>(n2));
  return out;
}

}  // namespace escrow::vault::testing
