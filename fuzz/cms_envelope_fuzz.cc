// Fuzzes ParseEnvelope with DER/BER bytes (seeds: real envelopes from `openssl cms -encrypt`
// in fuzz/corpus/cms_envelope/). Checks, beyond the sanitizers: a refusal is always the one
// invalid_cms error; an accepted envelope keeps every bound cms_envelope.h promises; parsing
// is deterministic; and the matcher decodes each recipient's issuer without trouble.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "vault/cms_envelope.h"

namespace {

namespace v = escrow::vault;

void Require(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> der(data, size);
  escrow::Result<v::Envelope> envelope = v::ParseEnvelope(der);
  if (!envelope.ok()) {
    Require(envelope.status().code() == escrow::Code::kInvalidArgument);
    Require(envelope.status().reason() == "invalid_cms");
    Require(!envelope.status().message().empty() && envelope.status().message().size() < 40);
    return 0;
  }
  Require(size <= v::kMaxCmsBytes);
  const v::Envelope& e = *envelope;
  Require(!e.recipients.empty());
  Require(e.recipients.size() + e.skipped_recipients <= v::kMaxCmsRecipients);
  for (const v::Recipient& r : e.recipients) {
    Require(!r.encrypted_key.empty() && r.encrypted_key.size() <= v::kMaxCmsEncryptedKeyBytes);
    if (r.id.kind == v::RecipientId::Kind::kSubjectKeyId) {
      Require(!r.id.subject_key_id.empty());
    } else {
      Require(!r.id.issuer_der.empty() && !r.id.serial.empty());
    }
  }
  Require(e.iv.size() == v::CipherIvBytes(e.cipher));
  Require(!e.encrypted_content.empty() && e.encrypted_content.size() <= v::kMaxCmsContentBytes);
  Require(e.encrypted_content.size() % v::CipherBlockBytes(e.cipher) == 0);

  escrow::Result<v::Envelope> again = v::ParseEnvelope(der);
  Require(again.ok() && again->recipients.size() == e.recipients.size() &&
          again->encrypted_content == e.encrypted_content && again->iv == e.iv);
  Require(v::MatchRecipients(e.recipients, {}).empty());
  return 0;
}
