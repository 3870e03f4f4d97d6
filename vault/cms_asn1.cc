#include "vault/cms_asn1.h"

#include <limits>

#include <openssl/asn1t.h>

namespace escrow::vault::cms_asn1 {
namespace {

// The templates: OpenSSL's macros, the way crypto/cms/cms_asn1.c writes the full ones.
// NOLINTBEGIN
ASN1_SEQUENCE(IssuerSerial) = {
  ASN1_SIMPLE(IssuerSerial, issuer, X509_NAME),
  ASN1_SIMPLE(IssuerSerial, serial, ASN1_INTEGER)
} static_ASN1_SEQUENCE_END(IssuerSerial)

ASN1_CHOICE(RecipientId) = {
  ASN1_SIMPLE(RecipientId, d.issuer_and_serial, IssuerSerial),
  ASN1_IMP(RecipientId, d.subject_key_id, ASN1_OCTET_STRING, 0)
} static_ASN1_CHOICE_END(RecipientId)

ASN1_SEQUENCE(KeyTrans) = {
  ASN1_SIMPLE(KeyTrans, version, ASN1_INTEGER),
  ASN1_SIMPLE(KeyTrans, rid, RecipientId),
  ASN1_SIMPLE(KeyTrans, key_encryption, X509_ALGOR),
  ASN1_SIMPLE(KeyTrans, encrypted_key, ASN1_OCTET_STRING)
} static_ASN1_SEQUENCE_END(KeyTrans)

ASN1_SEQUENCE(EncryptedContentInfo) = {
  ASN1_SIMPLE(EncryptedContentInfo, content_type, ASN1_OBJECT),
  ASN1_SIMPLE(EncryptedContentInfo, cipher, X509_ALGOR),
  ASN1_IMP_OPT(EncryptedContentInfo, content, ASN1_OCTET_STRING, 0)
} static_ASN1_SEQUENCE_END(EncryptedContentInfo)

ASN1_SEQUENCE(Enveloped) = {
  ASN1_SIMPLE(Enveloped, version, ASN1_INTEGER),
  ASN1_IMP_SEQUENCE_OF_OPT(Enveloped, originator_info, ASN1_ANY, 0),
  ASN1_SET_OF(Enveloped, recipient_infos, ASN1_ANY),
  ASN1_SIMPLE(Enveloped, encrypted_content_info, EncryptedContentInfo),
  ASN1_IMP_SET_OF_OPT(Enveloped, unprotected_attrs, ASN1_ANY, 1)
} static_ASN1_SEQUENCE_END(Enveloped)

ASN1_SEQUENCE(ContentInfo) = {
  ASN1_SIMPLE(ContentInfo, content_type, ASN1_OBJECT),
  ASN1_EXP(ContentInfo, enveloped, Enveloped, 0)
} static_ASN1_SEQUENCE_END(ContentInfo)
// NOLINTEND

// ASN1_item_d2i over all of `der`: null unless it decodes and nothing is left over.
ASN1_VALUE* DecodeAll(std::span<const std::uint8_t> der, const ASN1_ITEM* item) {
  if (der.empty() || der.size() > static_cast<std::size_t>(std::numeric_limits<long>::max())) {
    return nullptr;
  }
  const unsigned char* p = der.data();
  ASN1_VALUE* value = ASN1_item_d2i(nullptr, &p, static_cast<long>(der.size()), item);
  if (value != nullptr && p != der.data() + der.size()) {  // NOLINT: pointer arithmetic
    ASN1_item_free(value, item);
    return nullptr;
  }
  return value;
}

}  // namespace

void ContentInfoFree::operator()(ContentInfo* p) const noexcept {
  ASN1_item_free(reinterpret_cast<ASN1_VALUE*>(p), ASN1_ITEM_rptr(ContentInfo));  // NOLINT
}
void KeyTransFree::operator()(KeyTrans* p) const noexcept {
  ASN1_item_free(reinterpret_cast<ASN1_VALUE*>(p), ASN1_ITEM_rptr(KeyTrans));  // NOLINT
}

ContentInfoPtr DecodeContentInfo(std::span<const std::uint8_t> der) {
  return ContentInfoPtr(reinterpret_cast<ContentInfo*>(  // NOLINT: the item's C type
      DecodeAll(der, ASN1_ITEM_rptr(ContentInfo))));
}

KeyTransPtr DecodeKeyTrans(std::span<const std::uint8_t> der) {
  return KeyTransPtr(reinterpret_cast<KeyTrans*>(  // NOLINT: the item's C type
      DecodeAll(der, ASN1_ITEM_rptr(KeyTrans))));
}

}  // namespace escrow::vault::cms_asn1
