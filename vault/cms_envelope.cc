#include "vault/cms_envelope.h"

#include <algorithm>
#include <string>

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "base/ssl_ptr.h"
#include "vault/cms_asn1.h"

namespace escrow::vault {
namespace {

// Every failure is the same code and reason; the cause is for the audit record only.
Status Invalid(const char* cause) { return Status::InvalidArgument(cause, "invalid_cms"); }

std::span<const std::uint8_t> View(const ASN1_STRING* s) {
  return {ASN1_STRING_get0_data(s), static_cast<std::size_t>(ASN1_STRING_length(s))};
}
Bytes Copy(const ASN1_STRING* s) {
  const auto v = View(s);
  return {v.begin(), v.end()};
}

// An AlgorithmIdentifier's parameters must be absent or NULL (digests, rsaEncryption).
bool NoParameters(const X509_ALGOR* alg) {
  int ptype = V_ASN1_UNDEF;
  X509_ALGOR_get0(nullptr, &ptype, nullptr, alg);
  return ptype == V_ASN1_UNDEF || ptype == V_ASN1_NULL;
}

Result<OaepHash> HashOf(const X509_ALGOR* alg) {
  if (alg == nullptr) return OaepHash::kSha1;  // RFC 4055's default
  if (!NoParameters(alg)) return Invalid("unsupported key encryption");
  switch (OBJ_obj2nid(alg->algorithm)) {
    case NID_sha1: return OaepHash::kSha1;
    case NID_sha256: return OaepHash::kSha256;
    case NID_sha384: return OaepHash::kSha384;
    case NID_sha512: return OaepHash::kSha512;
    default: return Invalid("unsupported key encryption");
  }
}

// RSAES-OAEP-params (RFC 4055 section 4.1): the parameters must be present (OpenSSL refuses
// them absent too), MGF1 only, and the label, if given, empty.
Status ParseOaep(const X509_ALGOR* alg, Recipient& out) {
  const SslPtr<RSA_OAEP_PARAMS> params(static_cast<RSA_OAEP_PARAMS*>(
      ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(RSA_OAEP_PARAMS), alg->parameter)));
  if (params == nullptr) return Invalid("unsupported key encryption");
  ESCROW_ASSIGN_OR_RETURN(out.oaep_hash, HashOf(params->hashFunc));
  out.mgf1_hash = OaepHash::kSha1;
  if (params->maskGenFunc != nullptr) {
    if (OBJ_obj2nid(params->maskGenFunc->algorithm) != NID_mgf1) {
      return Invalid("unsupported key encryption");
    }
    const SslPtr<X509_ALGOR> mgf1_hash(static_cast<X509_ALGOR*>(ASN1_TYPE_unpack_sequence(
        ASN1_ITEM_rptr(X509_ALGOR), params->maskGenFunc->parameter)));
    if (mgf1_hash == nullptr) return Invalid("unsupported key encryption");
    ESCROW_ASSIGN_OR_RETURN(out.mgf1_hash, HashOf(mgf1_hash.get()));
  }
  if (params->pSourceFunc != nullptr) {
    const ASN1_TYPE* label = params->pSourceFunc->parameter;
    if (OBJ_obj2nid(params->pSourceFunc->algorithm) != NID_pSpecified || label == nullptr ||
        label->type != V_ASN1_OCTET_STRING || ASN1_STRING_length(label->value.octet_string) != 0) {
      return Invalid("unsupported key encryption");
    }
  }
  return Status::Ok();
}

Status ParseKeyEncryption(const X509_ALGOR* alg, Recipient& out) {
  switch (OBJ_obj2nid(alg->algorithm)) {
    case NID_rsaEncryption:
      if (!NoParameters(alg)) return Invalid("unsupported key encryption");
      out.key_encryption = KeyEncryption::kRsaPkcs1v15;
      return Status::Ok();
    case NID_rsaesOaep:
      out.key_encryption = KeyEncryption::kRsaOaep;
      return ParseOaep(alg, out);
    default:
      return Invalid("unsupported key encryption");
  }
}

// The recipient's identifier as OpenSSL's CMS code decoded it, checked against ours.
Result<RecipientId> ParseRecipientId(CMS_RecipientInfo* ri, const cms_asn1::RecipientId& ours) {
  ASN1_OCTET_STRING* keyid = nullptr;
  X509_NAME* issuer = nullptr;
  ASN1_INTEGER* serial = nullptr;
  if (CMS_RecipientInfo_ktri_get0_signer_id(ri, &keyid, &issuer, &serial) != 1) {
    return Invalid("bad recipient id");
  }
  RecipientId id;
  if (keyid != nullptr) {
    if (ours.type != cms_asn1::kRidSubjectKeyId ||
        ASN1_OCTET_STRING_cmp(keyid, ours.d.subject_key_id) != 0) {
      return Invalid("views disagree");
    }
    if (ASN1_STRING_length(keyid) == 0) return Invalid("bad recipient id");
    id.kind = RecipientId::Kind::kSubjectKeyId;
    id.subject_key_id = Copy(keyid);
    return id;
  }
  if (issuer == nullptr || serial == nullptr || ours.type != cms_asn1::kRidIssuerSerial ||
      X509_NAME_cmp(issuer, ours.d.issuer_and_serial->issuer) != 0 ||
      ASN1_INTEGER_cmp(serial, ours.d.issuer_and_serial->serial) != 0) {
    return Invalid("views disagree");
  }
  // A certificate serial is positive (RFC 5280 4.1.2.2); zero is tolerated, as OpenSSL does.
  if (ASN1_STRING_type(serial) != V_ASN1_INTEGER) return Invalid("bad recipient id");
  unsigned char* der = nullptr;
  const int der_len = i2d_X509_NAME(issuer, &der);
  const SslBuffer<unsigned char> der_owner(der);
  if (der_len <= 0) return Invalid("bad recipient id");
  id.kind = RecipientId::Kind::kIssuerAndSerial;
  id.issuer_der.assign(der, der + der_len);  // NOLINT: OpenSSL's buffer of der_len bytes
  id.serial = Copy(serial);
  return id;
}

// One KeyTransRecipientInfo, from both views: OpenSSL's `ri` and our `ours` (its DER).
Result<Recipient> ParseKeyTrans(CMS_RecipientInfo* ri, const ASN1_TYPE& ours_any) {
  if (ours_any.type != V_ASN1_SEQUENCE) return Invalid("views disagree");
  const cms_asn1::KeyTransPtr ours = cms_asn1::DecodeKeyTrans(View(ours_any.value.sequence));
  if (ours == nullptr) return Invalid("views disagree");

  Recipient recipient;
  ESCROW_ASSIGN_OR_RETURN(recipient.id, ParseRecipientId(ri, *ours->rid));
  X509_ALGOR* alg = nullptr;
  if (CMS_RecipientInfo_ktri_get0_algs(ri, nullptr, nullptr, &alg) != 1 || alg == nullptr ||
      X509_ALGOR_cmp(alg, ours->key_encryption) != 0) {
    return Invalid("views disagree");
  }
  ESCROW_RETURN_IF_ERROR(ParseKeyEncryption(alg, recipient));
  const int key_len = ASN1_STRING_length(ours->encrypted_key);
  if (key_len <= 0) return Invalid("bad encrypted key");
  if (static_cast<std::size_t>(key_len) > kMaxCmsEncryptedKeyBytes) return Invalid("too large");
  recipient.encrypted_key = Copy(ours->encrypted_key);
  return recipient;
}

Status ParseRecipients(CMS_ContentInfo* cms, const cms_asn1::Enveloped& ours, Envelope& out) {
  STACK_OF(CMS_RecipientInfo)* ris = CMS_get0_RecipientInfos(cms);
  const int count = ris == nullptr ? 0 : sk_CMS_RecipientInfo_num(ris);
  if (count <= 0) return Invalid("no key transport recipient");
  if (static_cast<std::size_t>(count) > kMaxCmsRecipients) return Invalid("too many recipients");
  if (sk_ASN1_TYPE_num(ours.recipient_infos) != count) return Invalid("views disagree");
  for (int i = 0; i < count; ++i) {
    CMS_RecipientInfo* ri = sk_CMS_RecipientInfo_value(ris, i);
    const ASN1_TYPE* ours_ri = sk_ASN1_TYPE_value(ours.recipient_infos, i);
    if (CMS_RecipientInfo_type(ri) != CMS_RECIPINFO_TRANS) {
      if (ours_ri->type == V_ASN1_SEQUENCE) return Invalid("views disagree");
      ++out.skipped_recipients;
      continue;
    }
    ESCROW_ASSIGN_OR_RETURN(Recipient recipient, ParseKeyTrans(ri, *ours_ri));
    out.recipients.push_back(std::move(recipient));
  }
  if (out.recipients.empty()) return Invalid("no key transport recipient");
  return Status::Ok();
}

Status ParseContent(CMS_ContentInfo* cms, const cms_asn1::EncryptedContentInfo& ours,
                    Envelope& out) {
  const ASN1_OBJECT* content_type = CMS_get0_eContentType(cms);
  if (content_type == nullptr || OBJ_cmp(content_type, ours.content_type) != 0) {
    return Invalid("views disagree");
  }
  if (OBJ_obj2nid(content_type) != NID_pkcs7_data) return Invalid("content not id-data");

  switch (OBJ_obj2nid(ours.cipher->algorithm)) {
    case NID_aes_128_cbc: out.cipher = ContentCipher::kAes128Cbc; break;
    case NID_aes_192_cbc: out.cipher = ContentCipher::kAes192Cbc; break;
    case NID_aes_256_cbc: out.cipher = ContentCipher::kAes256Cbc; break;
    case NID_des_ede3_cbc: out.cipher = ContentCipher::kDesEde3Cbc; break;
    default: return Invalid("unsupported content cipher");
  }
  // The CBC parameter is the IV as an OCTET STRING (RFC 3565 section 4.1, RFC 3370 5.1).
  const ASN1_TYPE* iv = ours.cipher->parameter;
  if (iv == nullptr || iv->type != V_ASN1_OCTET_STRING ||
      static_cast<std::size_t>(ASN1_STRING_length(iv->value.octet_string)) !=
          CipherIvBytes(out.cipher)) {
    return Invalid("bad IV");
  }
  out.iv = Copy(iv->value.octet_string);

  ASN1_OCTET_STRING** theirs = CMS_get0_content(cms);
  const bool theirs_present = theirs != nullptr && *theirs != nullptr;
  if (theirs_present != (ours.content != nullptr)) return Invalid("views disagree");
  if (!theirs_present) return Invalid("no content");
  if (ASN1_STRING_cmp(*theirs, ours.content) != 0) return Invalid("views disagree");
  const auto length = static_cast<std::size_t>(ASN1_STRING_length(ours.content));
  if (length > kMaxCmsContentBytes) return Invalid("too large");
  if (length == 0 || length % CipherBlockBytes(out.cipher) != 0) {
    return Invalid("bad content length");
  }
  out.encrypted_content = Copy(ours.content);
  return Status::Ok();
}

Result<Envelope> Parse(std::span<const std::uint8_t> der) {
  if (der.size() > kMaxCmsBytes) return Invalid("too large");
  if (der.empty()) return Invalid("not DER");

  // OpenSSL's view: accepts the structure and says what it is.
  const unsigned char* p = der.data();
  const SslPtr<CMS_ContentInfo> cms(
      d2i_CMS_ContentInfo(nullptr, &p, static_cast<long>(der.size())));
  if (cms == nullptr) return Invalid("not DER");
  if (p != der.data() + der.size()) return Invalid("trailing data");  // NOLINT: d2i's cursor
  if (OBJ_obj2nid(CMS_get0_type(cms.get())) != NID_pkcs7_enveloped) {
    return Invalid("not enveloped data");
  }

  // Ours: the fields OpenSSL's API keeps to itself.
  const cms_asn1::ContentInfoPtr ours = cms_asn1::DecodeContentInfo(der);
  if (ours == nullptr || OBJ_obj2nid(ours->content_type) != NID_pkcs7_enveloped) {
    return Invalid("views disagree");
  }

  Envelope envelope;
  ESCROW_RETURN_IF_ERROR(ParseRecipients(cms.get(), *ours->enveloped, envelope));
  ESCROW_RETURN_IF_ERROR(
      ParseContent(cms.get(), *ours->enveloped->encrypted_content_info, envelope));
  return envelope;
}

}  // namespace

std::size_t CipherKeyBytes(ContentCipher cipher) {
  switch (cipher) {
    case ContentCipher::kAes128Cbc: return 16;
    case ContentCipher::kAes192Cbc: return 24;
    case ContentCipher::kAes256Cbc: return 32;
    case ContentCipher::kDesEde3Cbc: return 24;
  }
  return 0;
}

std::size_t CipherBlockBytes(ContentCipher cipher) {
  return cipher == ContentCipher::kDesEde3Cbc ? 8 : 16;
}

std::size_t CipherIvBytes(ContentCipher cipher) { return CipherBlockBytes(cipher); }

const char* ContentCipherName(ContentCipher cipher) {
  switch (cipher) {
    case ContentCipher::kAes128Cbc: return "aes-128-cbc";
    case ContentCipher::kAes192Cbc: return "aes-192-cbc";
    case ContentCipher::kAes256Cbc: return "aes-256-cbc";
    case ContentCipher::kDesEde3Cbc: return "des-ede3-cbc";
  }
  return "unknown";
}

Result<Envelope> ParseEnvelope(std::span<const std::uint8_t> der) {
  // Hostile input leaves errors on OpenSSL's per-thread queue; drop them here so that they
  // are not mistaken later for the cause of an unrelated failure on this thread.
  ERR_set_mark();
  Result<Envelope> envelope = Parse(der);
  ERR_pop_to_mark();
  return envelope;
}

std::vector<RecipientMatch> MatchRecipients(std::span<const Recipient> recipients,
                                            std::span<const CandidateCertificate> candidates) {
  std::vector<RecipientMatch> matches;
  for (std::size_t r = 0; r < recipients.size(); ++r) {
    const RecipientId& id = recipients[r].id;
    SslPtr<X509_NAME> issuer;
    if (id.kind == RecipientId::Kind::kIssuerAndSerial) {
      const unsigned char* p = id.issuer_der.data();
      issuer.reset(d2i_X509_NAME(nullptr, &p, static_cast<long>(id.issuer_der.size())));
      if (issuer == nullptr) continue;
    }
    for (std::size_t c = 0; c < candidates.size(); ++c) {
      X509* cert = candidates[c].cert;
      if (cert == nullptr) continue;
      bool match = false;
      if (id.kind == RecipientId::Kind::kSubjectKeyId) {
        const ASN1_OCTET_STRING* ski = X509_get0_subject_key_id(cert);
        match = candidates[c].accepts_subject_key_id && ski != nullptr &&
                !id.subject_key_id.empty() && View(ski).size() == id.subject_key_id.size() &&
                std::equal(id.subject_key_id.begin(), id.subject_key_id.end(), View(ski).begin());
      } else {
        const ASN1_INTEGER* serial = X509_get0_serialNumber(cert);
        match = X509_NAME_cmp(issuer.get(), X509_get_issuer_name(cert)) == 0 &&
                ASN1_STRING_type(serial) == V_ASN1_INTEGER &&
                View(serial).size() == id.serial.size() &&
                std::equal(id.serial.begin(), id.serial.end(), View(serial).begin());
      }
      if (match) matches.push_back({r, c});
    }
  }
  return matches;
}

}  // namespace escrow::vault
