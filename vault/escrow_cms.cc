// EscrowService::StoreCmsKey: PUT /v1/devices/{id}/recovery-key/cms (API.md, "Apple MDM escrow,
// opened inside the HSM"). The MDM hands over the CMS EnvelopedData a Mac encrypted its FileVault
// recovery key to; the vault finds the recipient among its non-retired escrow certificates,
// opens the envelope inside the HSM and stores the key as an mdm store does (source kCms).
//
// From decoding onward every failure is one answer, 400 invalid_cms with one message, and one
// audit record whose detail names the cause: nothing about padding, keys or certificates leaks
// to the caller, and neither the key nor the envelope reaches the audit trail.

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <algorithm>
#include <array>
#include <optional>
#include <string>
#include <vector>

#include "base/base64.h"
#include "base/ssl_ptr.h"
#include "hsm/escrow_keys.h"
#include "vault/cms_envelope.h"
#include "vault/escrow_service.h"
#include "vault/escrow_service_impl.h"
#include "vault/key_format.h"
#include "vault/key_id.h"

namespace escrow::vault {
namespace {

constexpr std::size_t kSerialBytes = 16;  // escrow certificates' serials: 32 hex digits

// The parser's names for the algorithms, in the HSM's terms.
hsm::OaepDigest ToHsm(OaepHash hash) {
  switch (hash) {
    case OaepHash::kSha1:
      return hsm::OaepDigest::kSha1;
    case OaepHash::kSha256:
      return hsm::OaepDigest::kSha256;
    case OaepHash::kSha384:
      return hsm::OaepDigest::kSha384;
    case OaepHash::kSha512:
      return hsm::OaepDigest::kSha512;
  }
  return hsm::OaepDigest::kSha1;  // unreachable: every hash is listed
}

hsm::ContentCipher ToHsm(ContentCipher cipher) {
  switch (cipher) {
    case ContentCipher::kAes128Cbc:
      return hsm::ContentCipher::kAes128Cbc;
    case ContentCipher::kAes192Cbc:
      return hsm::ContentCipher::kAes192Cbc;
    case ContentCipher::kAes256Cbc:
      return hsm::ContentCipher::kAes256Cbc;
    case ContentCipher::kDesEde3Cbc:
      return hsm::ContentCipher::kDesEde3Cbc;
  }
  return hsm::ContentCipher::kAes256Cbc;  // unreachable: every cipher is listed
}

hsm::KeyTransportAlgorithm ToHsm(const Recipient& r) {
  hsm::KeyTransportAlgorithm a;
  a.scheme = r.key_encryption == KeyEncryption::kRsaOaep ? hsm::KeyTransport::kRsaOaep
                                                         : hsm::KeyTransport::kRsaPkcs1v15;
  a.oaep_hash = ToHsm(r.oaep_hash);
  a.mgf1_hash = ToHsm(r.mgf1_hash);
  return a;
}

// A recipient's serial (big-endian magnitude) as the certificates table spells it; nullopt if
// it cannot be one of ours.
std::optional<std::string> SerialHex(const Bytes& serial) {
  if (serial.size() > kSerialBytes) return std::nullopt;
  std::string hex(2 * (kSerialBytes - serial.size()), '0');
  static constexpr std::array<char, 16> kDigits{'0', '1', '2', '3', '4', '5', '6', '7',
                                                '8', '9', 'a', 'b', 'c', 'd', 'e', 'f'};
  for (const std::uint8_t b : serial) {
    hex += kDigits[b >> 4];
    hex += kDigits[b & 0xf];
  }
  return hex;
}

Result<Bytes> Sha256(std::span<const std::uint8_t> data) {
  Bytes out(32);
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), out.data(), &len, EVP_sha256(), nullptr) != 1 ||
      len != out.size()) {
    return Status::Internal("SHA-256 failed");
  }
  return out;
}

// One certificate the envelope may name, decoded from its row.
struct Known {
  storage::EscrowCertRow row;
  SslPtr<X509> cert;
};

Result<Known> Decode(storage::EscrowCertRow row) {
  const std::uint8_t* p = row.der.data();
  SslPtr<X509> cert(d2i_X509(nullptr, &p, static_cast<long>(row.der.size())));  // NOLINT(google-runtime-int)
  if (cert == nullptr || p != row.der.data() + row.der.size()) {
    return Status::DataLoss("escrow certificate " + row.serial + " does not decode",
                            "integrity_error");
  }
  return Known{std::move(row), std::move(cert)};
}

// The key as the content carries it: trailing whitespace and NULs removed (macOS may end it
// with a newline or a C string's terminator).
SecretBytes TrimmedKey(SecretBytes content) {
  std::span<const std::uint8_t> bytes = content.RevealSecret();
  std::size_t n = bytes.size();
  while (n > 0 && (bytes[n - 1] == 0 || bytes[n - 1] == ' ' || bytes[n - 1] == '\t' ||
                   bytes[n - 1] == '\n' || bytes[n - 1] == '\r' || bytes[n - 1] == '\v' ||
                   bytes[n - 1] == '\f')) {
    --n;
  }
  content.Truncate(n);
  return content;
}

}  // namespace

Result<StoreKeyResult> EscrowService::StoreCmsKey(const Caller& caller, std::string_view id,
                                                  std::string_view cms_base64,
                                                  const std::optional<std::string>& key_id) {
  Impl& m = *impl_;
  constexpr Action kAction = Action::kStoreKeyCms;
  // Every failure from decoding onward: one answer, the cause in the audit record only.
  auto refuse = [&](std::string_view cause) -> Status {
    return m.Deny(caller, kAction, id,
                  Status::InvalidArgument(std::string(hsm::kEnvelopeDoesNotOpen),
                                          std::string(hsm::kInvalidCms)),
                  "envelope not accepted: " + std::string(cause));
  };

  // Decoded and parsed before the reads (pure; answered only after the device checks), so
  // that the certificates it names are read in the device's snapshot.
  Result<Envelope> envelope = Status::InvalidArgument("not base64", std::string(hsm::kInvalidCms));
  if (Result<Bytes> der = DecodeBase64Strict(cms_base64, kMaxCmsBytes); der.ok()) {
    envelope = ParseEnvelope(*der);
  }

  std::vector<storage::EscrowCertRow> fleet;
  std::vector<storage::EscrowCertRow> own;    // this device's, not retired
  std::vector<storage::EscrowCertRow> named;  // by the recipients' serials, any device or state
  Impl::DeviceRead read =
      m.ReadDevice(id, [&](storage::ReadTxn& txn, const storage::DeviceRow&) -> Status {
        if (!envelope.ok()) return Status::Ok();
        ESCROW_ASSIGN_OR_RETURN(fleet, txn.escrow_certs().ListFleet());
        std::vector<std::uint32_t> versions;
        for (const storage::EscrowCertRow& f : fleet) {
          if (std::find(versions.begin(), versions.end(), f.key_version) == versions.end()) {
            versions.push_back(f.key_version);
          }
        }
        for (const std::uint32_t v : versions) {
          ESCROW_ASSIGN_OR_RETURN(std::optional<storage::EscrowCertRow> mine,
                                  txn.escrow_certs().ForDevice(id, v));
          if (mine) own.push_back(std::move(*mine));
        }
        for (const Recipient& r : envelope->recipients) {
          if (r.id.kind != RecipientId::Kind::kIssuerAndSerial) continue;
          const std::optional<std::string> serial = SerialHex(r.id.serial);
          if (!serial) continue;
          ESCROW_ASSIGN_OR_RETURN(std::optional<storage::EscrowCertRow> cert,
                                  txn.escrow_certs().Get(*serial));
          if (cert) named.push_back(std::move(*cert));
        }
        return Status::Ok();
      });
  // The device checks of a store, in its order: 404, 403, 409, 409.
  Result<storage::DeviceRow> row = m.Authorize(caller, kAction, id, std::move(read.device));
  if (!row.ok()) return row.status();
  ESCROW_RETURN_IF_ERROR(m.AcceptsStore(caller, kAction, id, *row));
  std::optional<std::string> normal_id;
  if (key_id) {
    Result<std::string> n = NormalizeKeyId(row->platform, *key_id);
    if (!n.ok()) return m.Deny(caller, kAction, id, n.status());
    normal_id = std::move(*n);
  }
  if (!read.more.ok()) return m.ReadFailed(caller, kAction, id, read.more);
  if (!envelope.ok()) return refuse(envelope.status().message());

  // The candidates: every non-retired fleet certificate (by issuer and serial, or by subject
  // key identifier) and this device's own certificates (by issuer and serial only).
  std::vector<Known> candidates;
  std::vector<CandidateCertificate> views;
  for (storage::EscrowCertRow& f : fleet) {
    if (f.state == storage::EscrowCertState::kRetired) continue;
    Result<Known> k = Decode(std::move(f));
    if (!k.ok()) return m.Deny(caller, kAction, id, k.status());
    candidates.push_back(std::move(*k));
  }
  const std::size_t fleet_count = candidates.size();
  for (storage::EscrowCertRow& d : own) {
    Result<Known> k = Decode(std::move(d));
    if (!k.ok()) return m.Deny(caller, kAction, id, k.status());
    candidates.push_back(std::move(*k));
  }
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    views.push_back(CandidateCertificate{candidates[i].cert.get(), i < fleet_count});
  }
  const std::vector<RecipientMatch> matches = MatchRecipients(envelope->recipients, views);
  if (matches.empty()) {
    // Why not, for the audit: a certificate of another device, or a retired one, named by
    // issuer and serial; a retired fleet certificate named by its key identifier.
    std::string_view cause = "no matching recipient";
    auto names = [&](const storage::EscrowCertRow& r, bool by_key_id) {
      Result<Known> k = Decode(r);
      if (!k.ok()) return false;
      const CandidateCertificate c{k->cert.get(), by_key_id};
      return !MatchRecipients(envelope->recipients, std::span(&c, 1)).empty();
    };
    for (const storage::EscrowCertRow& r : named) {
      if (!names(r, false)) continue;
      if (r.kind == storage::EscrowCertKind::kDevice && r.device_id && *r.device_id != id) {
        cause = "addressed to another device";
        break;
      }
      if (r.state == storage::EscrowCertState::kRetired) cause = "retired certificate";
    }
    if (cause == "no matching recipient") {
      for (const storage::EscrowCertRow& r : fleet) {
        // `fleet` keeps the retired rows (the others were moved into the candidates).
        if (r.state == storage::EscrowCertState::kRetired && names(r, true)) {
          cause = "retired certificate";
          break;
        }
      }
    }
    return refuse(cause);
  }
  const Recipient& recipient = envelope->recipients[matches.front().recipient];
  const storage::EscrowCertRow& cert = candidates[matches.front().candidate].row;

  // Replay: the same envelope (its encrypted key) already stored for another device.
  Result<Bytes> digest = Sha256(recipient.encrypted_key);
  if (!digest.ok()) return m.Deny(caller, kAction, id, digest.status());
  std::optional<std::string> seen;
  Status replay_read = m.store.Read([&](storage::ReadTxn& txn) -> Status {
    ESCROW_ASSIGN_OR_RETURN(seen, txn.escrow_certs().EnvelopeDevice(*digest));
    return Status::Ok();
  });
  if (!replay_read.ok()) return m.ReadFailed(caller, kAction, id, replay_read);
  if (seen && *seen != id) return refuse("replay");

  // Opened inside the HSM: the content-encryption key never leaves the token.
  hsm::EnvelopeToOpen to_open;
  to_open.escrow_key_version = cert.key_version;
  to_open.key_transport = ToHsm(recipient);
  to_open.encrypted_key = recipient.encrypted_key;
  to_open.cipher = ToHsm(envelope->cipher);
  to_open.iv = envelope->iv;
  to_open.ciphertext = envelope->encrypted_content;
  hsm::OpenedEnvelope opened = m.keys.OpenEnvelope(to_open);
  if (!opened.content.ok()) {
    if (opened.content.status().code() == Code::kUnavailable) {
      return m.Deny(caller, kAction, id,
                    Status::Unavailable(opened.content.status().message(), "store_failed"),
                    "envelope not opened: hsm unavailable");
    }
    return refuse(hsm::EnvelopeCauseText(opened.cause));
  }
  SecretBytes key = TrimmedKey(std::move(*opened.content));
  // A key of the wrong format is the envelope's failure too (one answer, one record).
  if (!NormalizeRecoveryKey(row->platform, key).ok()) return refuse("key format");

  StoreKeyExtras extras;
  extras.key_id = std::move(normal_id);
  extras.source = KeySource::kCms;
  extras.envelope_digest = std::move(*digest);
  Result<StoreKeyResult> stored = StoreKey(caller, id, key, nullptr, extras);
  if (!stored.ok() && stored.status().reason() == hsm::kInvalidCms) return refuse("replay");
  return stored;
}

}  // namespace escrow::vault
