#pragma once

// Owning pointers for OpenSSL objects: one deleter per type, so no *_free is called by hand.

#include <memory>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/cms.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace escrow {

template <class T>
struct SslDeleter;

// bugprone-macro-parentheses is wrong here: `Type` is a type name, which parentheses in
// "Type* p" would turn into an expression.
// NOLINTBEGIN(bugprone-macro-parentheses)
#define ESCROW_SSL_DELETER(Type, free_fn)                  \
  template <>                                              \
  struct SslDeleter<Type> {                                \
    void operator()(Type* p) const noexcept { free_fn(p); } \
  }
// NOLINTEND(bugprone-macro-parentheses)

// ASN1_INTEGER, ASN1_TIME, ASN1_OCTET_STRING, ... are all ASN1_STRING.
ESCROW_SSL_DELETER(ASN1_STRING, ASN1_STRING_free);
ESCROW_SSL_DELETER(BIO, BIO_free_all);
ESCROW_SSL_DELETER(BIGNUM, BN_free);
ESCROW_SSL_DELETER(CMS_ContentInfo, CMS_ContentInfo_free);
ESCROW_SSL_DELETER(ECDSA_SIG, ECDSA_SIG_free);
ESCROW_SSL_DELETER(EVP_CIPHER_CTX, EVP_CIPHER_CTX_free);
ESCROW_SSL_DELETER(EVP_KDF, EVP_KDF_free);
ESCROW_SSL_DELETER(EVP_KDF_CTX, EVP_KDF_CTX_free);
ESCROW_SSL_DELETER(EVP_MD_CTX, EVP_MD_CTX_free);
ESCROW_SSL_DELETER(EVP_PKEY, EVP_PKEY_free);
ESCROW_SSL_DELETER(EVP_PKEY_CTX, EVP_PKEY_CTX_free);
ESCROW_SSL_DELETER(OSSL_PARAM, OSSL_PARAM_free);
ESCROW_SSL_DELETER(OSSL_PARAM_BLD, OSSL_PARAM_BLD_free);
ESCROW_SSL_DELETER(RSA_OAEP_PARAMS, RSA_OAEP_PARAMS_free);
ESCROW_SSL_DELETER(X509, X509_free);
ESCROW_SSL_DELETER(X509_ALGOR, X509_ALGOR_free);
ESCROW_SSL_DELETER(X509_EXTENSION, X509_EXTENSION_free);
ESCROW_SSL_DELETER(X509_NAME, X509_NAME_free);

#undef ESCROW_SSL_DELETER

// A stack of certificates owns them.
template <>
struct SslDeleter<STACK_OF(X509)> {
  void operator()(STACK_OF(X509) * p) const noexcept { sk_X509_pop_free(p, X509_free); }
};

template <class T>
using SslPtr = std::unique_ptr<T, SslDeleter<T>>;

// Memory OpenSSL allocated for us (i2d_* output, ASN1_STRING_to_UTF8, PEM_read_bio's names).
struct OpenSslFree {
  void operator()(void* p) const noexcept { OPENSSL_free(p); }
};
template <class T>
using SslBuffer = std::unique_ptr<T, OpenSslFree>;

}  // namespace escrow
