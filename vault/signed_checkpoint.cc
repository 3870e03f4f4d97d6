#include "vault/signed_checkpoint.h"

#include <algorithm>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "base/log.h"
#include "base/ssl_ptr.h"
#include "hsm/key_service.h"
#include "storage/store.h"

namespace escrow::vault {
namespace {

constexpr std::string_view kDomain = "escrow-checkpoint";
constexpr std::uint8_t kFormat = 1;
constexpr std::size_t kHashBytes = 32;

void PutU64(Bytes& out, std::uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) {
    out.push_back(static_cast<std::uint8_t>(v >> static_cast<unsigned>(shift)));
  }
}

// The P-256 key of a SubjectPublicKeyInfo, or kInvalidArgument.
Result<SslPtr<EVP_PKEY>> P256Key(std::span<const std::uint8_t> spki_der) {
  const unsigned char* p = spki_der.data();
  SslPtr<EVP_PKEY> key(d2i_PUBKEY(nullptr, &p, static_cast<long>(spki_der.size())));
  if (!key || p != spki_der.data() + spki_der.size()) {
    return Status::InvalidArgument("not a public key (SubjectPublicKeyInfo)");
  }
  char group[64] = {};
  std::size_t len = 0;
  if (EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_EC ||
      EVP_PKEY_get_group_name(key.get(), group, sizeof group, &len) != 1 ||
      std::string_view(group, len) != "prime256v1") {
    return Status::InvalidArgument("not an EC P-256 public key");
  }
  return key;
}

}  // namespace

Bytes CheckpointMessage(std::uint64_t seq, std::span<const std::uint8_t> hash, std::int64_t at_ms) {
  Bytes out(kDomain.begin(), kDomain.end());
  out.push_back(kFormat);
  PutU64(out, seq);
  out.insert(out.end(), hash.begin(), hash.end());
  PutU64(out, static_cast<std::uint64_t>(at_ms));
  return out;
}

Result<std::string> PublicKeyPem(std::span<const std::uint8_t> spki_der) {
  ESCROW_ASSIGN_OR_RETURN(SslPtr<EVP_PKEY> key, P256Key(spki_der));
  SslPtr<BIO> bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), key.get()) != 1) {
    return Status::Internal("PEM_write_bio_PUBKEY failed");
  }
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  if (n <= 0 || data == nullptr) return Status::Internal("PEM_write_bio_PUBKEY wrote nothing");
  return std::string(data, static_cast<std::size_t>(n));
}

Result<Bytes> PublicKeyFromPem(std::string_view pem) {
  if (pem.size() > std::size_t{16} * 1024) return Status::InvalidArgument("not a PEM public key");
  SslPtr<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  SslPtr<EVP_PKEY> key(bio ? PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!key) return Status::InvalidArgument("not a PEM public key");
  const int len = i2d_PUBKEY(key.get(), nullptr);
  if (len <= 0) return Status::InvalidArgument("not a PEM public key");
  Bytes der(static_cast<std::size_t>(len));
  unsigned char* out = der.data();
  if (i2d_PUBKEY(key.get(), &out) != len) return Status::Internal("i2d_PUBKEY failed");
  ESCROW_RETURN_IF_ERROR(P256Key(der).status());
  return der;
}

Status VerifyCheckpointSignature(std::span<const std::uint8_t> spki_der,
                                 const storage::AuditCheckpointRow& checkpoint) {
  if (checkpoint.hash.size() != kHashBytes) {
    return Status::InvalidArgument("a checkpoint's hash has 32 bytes");
  }
  ESCROW_ASSIGN_OR_RETURN(SslPtr<EVP_PKEY> key, P256Key(spki_der));
  const Bytes message = CheckpointMessage(checkpoint.seq, checkpoint.hash, checkpoint.at_ms);
  SslPtr<EVP_MD_CTX> ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get()) != 1) {
    return Status::Internal("EVP_DigestVerifyInit failed");
  }
  if (EVP_DigestVerify(ctx.get(), checkpoint.signature.data(), checkpoint.signature.size(),
                       message.data(), message.size()) != 1) {
    return Status::DataLoss("the checkpoint's signature does not verify");
  }
  return Status::Ok();
}

Status CheckpointSigner::SignIn(storage::WriteTxn& txn, const storage::AuditRow& head) {
  const std::int64_t now = head.time_ms;
  // Due, or the clock went back past the last look.
  if (!next_check_ms_ || now >= *next_check_ms_ || now + recheck_ms_ < *next_check_ms_) {
    ESCROW_ASSIGN_OR_RETURN(const std::vector<storage::AuditSigningKeyRow> keys,
                            txn.audit_checkpoints().SigningKeys());
    const std::uint32_t newest = keys.empty() ? 0 : keys.back().version;
    if (newest != key_version_ && newest != 0) {
      LogInfo("audit_signing_key", "checkpoints are signed by " +
                                       hsm::EscrowKeyLabel(hsm::EscrowKeyKind::kAuditSign, newest));
    }
    key_version_ = std::max(key_version_, newest);
    next_check_ms_ = now + recheck_ms_;
  }
  if (key_version_ == 0) return Status::Ok();
  if (last_signed_ms_ && now >= *last_signed_ms_ &&
      now - *last_signed_ms_ < kCheckpointSignIntervalMs) {
    return Status::Ok();
  }
  storage::AuditCheckpointRow row;
  row.seq = head.seq;
  row.hash = head.hash;
  row.at_ms = head.time_ms;
  row.key_version = key_version_;
  Result<Bytes> signature = keys_.EcdsaSign(hsm::EscrowKeyKind::kAuditSign, key_version_,
                                            CheckpointMessage(row.seq, row.hash, row.at_ms));
  if (!signature.ok()) {
    // Skipped, not failed: see SignIn. A key gone from the token is looked for again at once.
    LogError("audit_checkpoint_sign_failed", "checkpoint " + std::to_string(row.seq) +
                                                 " not signed: " + signature.status().ToString());
    if (signature.status().code() == Code::kNotFound) next_check_ms_.reset();
    return Status::Ok();
  }
  row.signature = std::move(signature).value();
  const Status appended =
      txn.Isolated([&](storage::WriteTxn& t) { return t.audit_checkpoints().Append(row); });
  if (!appended.ok()) {
    LogError("audit_checkpoint_sign_failed",
             "checkpoint " + std::to_string(row.seq) + " not stored: " + appended.ToString());
    return Status::Ok();
  }
  last_signed_ms_ = now;
  return Status::Ok();
}

}  // namespace escrow::vault
