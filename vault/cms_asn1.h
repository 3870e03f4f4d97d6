#pragma once

// A second, narrower decoding of a CMS EnvelopedData (RFC 5652 section 6), private to
// vault/cms_envelope.cc. OpenSSL's CMS code decodes and type-checks the envelope, but its
// public API gives neither a recipient's encryptedKey nor the content-encryption
// AlgorithmIdentifier, and opening the envelope must happen in the HSM, not through
// CMS_decrypt. So the same bytes are decoded again with OpenSSL's ASN.1 template engine (the
// decoder OpenSSL's CMS code itself uses: same BER rules, same nesting and string limits),
// with templates that keep exactly the fields we need; cms_envelope.cc checks that both
// views agree. No hand-written DER reader.

#include <cstdint>
#include <memory>
#include <span>

#include <openssl/asn1.h>
#include <openssl/x509.h>

namespace escrow::vault::cms_asn1 {

// IssuerAndSerialNumber ::= SEQUENCE { issuer Name, serialNumber CertificateSerialNumber }
struct IssuerSerial {
  X509_NAME* issuer;
  ASN1_INTEGER* serial;
};

// RecipientIdentifier ::= CHOICE { issuerAndSerialNumber, subjectKeyIdentifier [0] }
struct RecipientId {
  int type;  // kRidIssuerSerial or kRidSubjectKeyId: the index of the CHOICE's alternative
  union {
    IssuerSerial* issuer_and_serial;
    ASN1_OCTET_STRING* subject_key_id;
  } d;
};
inline constexpr int kRidIssuerSerial = 0;
inline constexpr int kRidSubjectKeyId = 1;

// KeyTransRecipientInfo ::= SEQUENCE { version, rid, keyEncryptionAlgorithm, encryptedKey }
struct KeyTrans {
  ASN1_INTEGER* version;
  RecipientId* rid;
  X509_ALGOR* key_encryption;
  ASN1_OCTET_STRING* encrypted_key;
};

// EncryptedContentInfo ::= SEQUENCE { contentType, contentEncryptionAlgorithm,
//                                     encryptedContent [0] IMPLICIT OCTET STRING OPTIONAL }
struct EncryptedContentInfo {
  ASN1_OBJECT* content_type;
  X509_ALGOR* cipher;
  ASN1_OCTET_STRING* content;  // null when absent (detached)
};

// EnvelopedData ::= SEQUENCE { version, originatorInfo [0] OPTIONAL, recipientInfos SET OF,
//                              encryptedContentInfo, unprotectedAttrs [1] OPTIONAL }
// RecipientInfo is a CHOICE of which only ktri is an untagged SEQUENCE (kari, kekri, pwri,
// ori are [1]..[4]), so each is kept as an ANY and ktri decoded from it with KeyTrans.
struct Enveloped {
  ASN1_INTEGER* version;
  STACK_OF(ASN1_TYPE) * originator_info;
  STACK_OF(ASN1_TYPE) * recipient_infos;
  EncryptedContentInfo* encrypted_content_info;
  STACK_OF(ASN1_TYPE) * unprotected_attrs;
};

// ContentInfo ::= SEQUENCE { contentType, content [0] EXPLICIT EnvelopedData }
struct ContentInfo {
  ASN1_OBJECT* content_type;
  Enveloped* enveloped;
};

struct ContentInfoFree {
  void operator()(ContentInfo* p) const noexcept;
};
struct KeyTransFree {
  void operator()(KeyTrans* p) const noexcept;
};
using ContentInfoPtr = std::unique_ptr<ContentInfo, ContentInfoFree>;
using KeyTransPtr = std::unique_ptr<KeyTrans, KeyTransFree>;

// Each decodes all of `der` or returns null (bad encoding, or bytes left over).
ContentInfoPtr DecodeContentInfo(std::span<const std::uint8_t> der);
KeyTransPtr DecodeKeyTrans(std::span<const std::uint8_t> der);

}  // namespace escrow::vault::cms_asn1
