#include "hsm/escrow_keys.h"

namespace escrow::hsm {

std::string_view EscrowKeyLabelPrefix(EscrowKeyKind kind) {
  switch (kind) {
    case EscrowKeyKind::kCms:
      return "escrow-cms-v";
    case EscrowKeyKind::kCa:
      return "escrow-ca-v";
    case EscrowKeyKind::kAuditSign:
      return "escrow-audit-sign-v";
  }
  return "escrow-unknown-v";  // unreachable: every kind is listed
}

std::string EscrowKeyLabel(EscrowKeyKind kind, std::uint32_t version) {
  return std::string(EscrowKeyLabelPrefix(kind)) + std::to_string(version);
}

std::size_t ContentKeyBytes(ContentCipher cipher) {
  switch (cipher) {
    case ContentCipher::kAes128Cbc:
      return 16;
    case ContentCipher::kAes192Cbc:
    case ContentCipher::kDesEde3Cbc:
      return 24;
    case ContentCipher::kAes256Cbc:
      return 32;
  }
  return 0;  // unreachable: every cipher is listed
}

std::size_t ContentBlockBytes(ContentCipher cipher) {
  return cipher == ContentCipher::kDesEde3Cbc ? 8 : 16;
}

std::string_view EnvelopeCauseText(EnvelopeCause cause) {
  switch (cause) {
    case EnvelopeCause::kNone:
      return "none";
    case EnvelopeCause::kMalformed:
      return "malformed";
    case EnvelopeCause::kNoSuchKey:
      return "no such key";
    case EnvelopeCause::kMechanismUnsupported:
      return "mechanism unsupported";
    case EnvelopeCause::kUnwrap:
      return "unwrap";
    case EnvelopeCause::kDecrypt:
      return "decrypt";
    case EnvelopeCause::kHsmUnavailable:
      return "hsm unavailable";
  }
  return "unknown";  // unreachable: every cause is listed
}

Status EnvelopeFailure(EnvelopeCause cause) {
  if (cause == EnvelopeCause::kHsmUnavailable) {
    return Status::Unavailable("the HSM is unavailable; the envelope was not opened");
  }
  // One message and reason for every cause: the cause goes to the audit record only.
  return Status::InvalidArgument(std::string(kEnvelopeDoesNotOpen), std::string(kInvalidCms));
}

}  // namespace escrow::hsm
