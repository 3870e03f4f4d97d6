#include "vault/ops/shares.h"

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <optional>
#include <set>
#include <string_view>

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "base/check.h"
#include "base/ssl_ptr.h"

// libgfshare's header has no extern "C" of its own.
extern "C" {
#include <libgfshare.h>
}

namespace escrow::ops {
namespace {

constexpr std::string_view kHeader = "escrow-vault ceremony key share v1\n";
constexpr std::size_t kCheckBytes = 8;
constexpr std::string_view kHexDigits = "0123456789abcdef";

// libgfshare's context (not OpenSSL's: SslPtr covers those).
struct GfshareFree {
  void operator()(gfshare_ctx* ctx) const noexcept { gfshare_ctx_free(ctx); }
};
using GfsharePtr = std::unique_ptr<gfshare_ctx, GfshareFree>;

// libgfshare's randomness: the coefficients of the sharing polynomial must be unpredictable,
// so they come from OpenSSL's CSPRNG, never random(). No way to report failure through
// libgfshare, and a share made with bad randomness would leak the key: abort.
void FillRandom(unsigned char* buffer, unsigned int size) {
  ESCROW_CHECK(RAND_bytes(buffer, static_cast<int>(size)) == 1);
}

// Writes hex of `bytes` into `out` at `pos`.
void PutHex(std::span<std::uint8_t> out, std::size_t& pos, std::span<const std::uint8_t> bytes) {
  for (const std::uint8_t b : bytes) {
    out[pos++] = static_cast<std::uint8_t>(kHexDigits[b >> 4U]);
    out[pos++] = static_cast<std::uint8_t>(kHexDigits[b & 15U]);
  }
}
void PutText(std::span<std::uint8_t> out, std::size_t& pos, std::string_view text) {
  std::copy(text.begin(), text.end(), out.begin() + static_cast<std::ptrdiff_t>(pos));
  pos += text.size();
}

// SHA-256 over every field of the share, truncated: catches a mistyped or damaged share (and a
// share of another backup) before recombination. Not secret and not a MAC: keys.backup's MAC
// under the recombined key is what authenticates.
std::string CheckValue(const CeremonyShare& s) {
  SslPtr<EVP_MD_CTX> ctx(EVP_MD_CTX_new());
  ESCROW_CHECK(ctx != nullptr);
  const std::string fields = "escrow-share-v1|" + s.backup_id + "|" + std::to_string(s.index) +
                             "|" + std::to_string(s.threshold) + "|" +
                             std::to_string(s.count) + "|";
  std::uint8_t digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  const std::span<const std::uint8_t> value = s.value.RevealSecret();
  ESCROW_CHECK(EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) == 1 &&
               EVP_DigestUpdate(ctx.get(), fields.data(), fields.size()) == 1 &&
               EVP_DigestUpdate(ctx.get(), value.data(), value.size()) == 1 &&
               EVP_DigestFinal_ex(ctx.get(), digest, &len) == 1);
  return HexEncode(std::span<const std::uint8_t>(digest, kCheckBytes));
}

std::optional<unsigned> SmallNumber(std::string_view text) {
  if (text.empty() || text.size() > 3 || text.find_first_not_of("0123456789") != std::string_view::npos) {
    return std::nullopt;
  }
  unsigned n = 0;
  for (const char c : text) n = n * 10 + static_cast<unsigned>(c - '0');
  return n;
}

}  // namespace

Result<std::string> RandomHex(std::size_t n) {
  Bytes bytes(n);
  if (RAND_bytes(bytes.data(), static_cast<int>(n)) != 1) return Status::Internal("RAND_bytes failed");
  return HexEncode(bytes);
}

Result<std::vector<CeremonyShare>> SplitSecret(const SecretBytes& secret,
                                               const std::string& backup_id,
                                               std::uint8_t threshold, std::uint8_t count) {
  if (threshold < 2 || threshold > count) {
    return Status::InvalidArgument("need 2 <= threshold <= shares <= 255");
  }
  if (secret.empty()) return Status::InvalidArgument("empty secret");
  gfshare_fill_rand = FillRandom;
  std::vector<unsigned char> coords(count);
  for (unsigned i = 0; i < count; ++i) coords[i] = static_cast<unsigned char>(i + 1);
  GfsharePtr ctx(gfshare_ctx_init_enc(
      coords.data(), count, threshold, static_cast<unsigned int>(secret.size())));
  if (ctx == nullptr) return Status::Internal("gfshare_ctx_init_enc failed");
  // libgfshare copies the secret into its context (wiped with random bytes when freed).
  gfshare_ctx_enc_setsecret(ctx.get(), const_cast<unsigned char*>(secret.RevealSecret().data()));  // NOLINT
  std::vector<CeremonyShare> shares;
  for (unsigned i = 0; i < count; ++i) {
    CeremonyShare share;
    share.backup_id = backup_id;
    share.index = coords[i];
    share.threshold = threshold;
    share.count = count;
    share.value = SecretBytes(secret.size());
    gfshare_ctx_enc_getshare(ctx.get(), static_cast<unsigned char>(i),
                             share.value.mutable_span().data());
    shares.push_back(std::move(share));
  }
  return shares;
}

Result<SecretBytes> CombineShares(const std::vector<CeremonyShare>& shares) {
  if (shares.empty()) return Status::InvalidArgument("no shares given");
  const CeremonyShare& first = shares.front();
  std::set<unsigned> seen;
  for (const CeremonyShare& s : shares) {
    if (s.backup_id != first.backup_id) {
      return Status::InvalidArgument("share " + std::to_string(s.index) +
                                     " belongs to another backup (" + s.backup_id + ", not " +
                                     first.backup_id + ")");
    }
    if (s.threshold != first.threshold || s.count != first.count ||
        s.value.size() != first.value.size()) {
      return Status::InvalidArgument("share " + std::to_string(s.index) +
                                     " does not match the other shares");
    }
    if (!seen.insert(s.index).second) {
      return Status::InvalidArgument("share " + std::to_string(s.index) + " was given twice");
    }
  }
  if (shares.size() < first.threshold) {
    return Status::InvalidArgument("got " + std::to_string(shares.size()) + " shares; any " +
                                   std::to_string(first.threshold) + " of the " +
                                   std::to_string(first.count) + " are needed");
  }
  gfshare_fill_rand = FillRandom;
  std::vector<unsigned char> coords;
  for (const CeremonyShare& s : shares) coords.push_back(s.index);
  GfsharePtr ctx(gfshare_ctx_init_dec(
      coords.data(), static_cast<unsigned int>(coords.size()),
      static_cast<unsigned int>(first.value.size())));
  if (ctx == nullptr) return Status::Internal("gfshare_ctx_init_dec failed");
  for (std::size_t i = 0; i < shares.size(); ++i) {
    gfshare_ctx_dec_giveshare(
        ctx.get(), static_cast<unsigned char>(i),
        const_cast<unsigned char*>(shares[i].value.RevealSecret().data()));  // NOLINT
  }
  SecretBytes secret(first.value.size());
  gfshare_ctx_dec_extract(ctx.get(), secret.mutable_span().data());
  return secret;
}

SecretBytes RenderShare(const CeremonyShare& s) {
  const std::string head = std::string(kHeader) + "backup: " + s.backup_id + "\n" +
                           "index: " + std::to_string(s.index) + "\n" +
                           "threshold: " + std::to_string(s.threshold) + "\n" +
                           "shares: " + std::to_string(s.count) + "\n" + "value: ";
  const std::string tail = "\ncheck: " + CheckValue(s) + "\n";
  SecretBytes text(head.size() + 2 * s.value.size() + tail.size());
  std::size_t pos = 0;
  PutText(text.mutable_span(), pos, head);
  PutHex(text.mutable_span(), pos, s.value.RevealSecret());
  PutText(text.mutable_span(), pos, tail);
  return text;
}

Result<CeremonyShare> ParseShare(std::span<const std::uint8_t> bytes, const std::string& source) {
  const std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());  // NOLINT
  const Status bad = Status::DataLoss(source + " is not a ceremony key share (damaged?)");
  if (!text.starts_with(kHeader)) return bad;
  CeremonyShare share;
  std::optional<unsigned> index, threshold, count;
  std::string_view value_hex, check;
  std::string_view rest = text.substr(kHeader.size());
  while (!rest.empty()) {
    const std::size_t nl = rest.find('\n');
    const std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    const std::size_t colon = line.find(": ");
    if (colon == std::string_view::npos) {
      if (line.empty() || line == "\r") continue;
      return bad;
    }
    const std::string_view key = line.substr(0, colon);
    std::string_view val = line.substr(colon + 2);
    if (val.ends_with('\r')) val.remove_suffix(1);
    if (key == "backup") {
      share.backup_id = std::string(val);
    } else if (key == "index") {
      index = SmallNumber(val);
    } else if (key == "threshold") {
      threshold = SmallNumber(val);
    } else if (key == "shares") {
      count = SmallNumber(val);
    } else if (key == "value") {
      value_hex = val;
    } else if (key == "check") {
      check = val;
    } else {
      return bad;
    }
  }
  if (share.backup_id.size() != 32 || !index || !threshold || !count || *index == 0 ||
      *index > 255 || *threshold < 2 || *threshold > *count || *count > 255 ||
      *index > *count || value_hex.empty() || value_hex.size() % 2 != 0 || check.empty()) {
    return bad;
  }
  share.index = static_cast<std::uint8_t>(*index);
  share.threshold = static_cast<std::uint8_t>(*threshold);
  share.count = static_cast<std::uint8_t>(*count);
  share.value = SecretBytes(value_hex.size() / 2);
  std::span<std::uint8_t> out = share.value.mutable_span();
  for (std::size_t i = 0; i < out.size(); ++i) {
    const std::size_t hi = kHexDigits.find(value_hex[2 * i]);
    const std::size_t lo = kHexDigits.find(value_hex[2 * i + 1]);
    if (hi == std::string_view::npos || lo == std::string_view::npos) return bad;
    out[i] = static_cast<std::uint8_t>(hi << 4U | lo);
  }
  if (CheckValue(share) != check) {
    return Status::DataLoss(source + " (share " + std::to_string(share.index) +
                            ") fails its check value: it is damaged or mistyped");
  }
  return share;
}

Result<Bytes> CmsEncryptTo(const SecretBytes& content, const std::filesystem::path& cert_path) {
  SslPtr<BIO> cert_bio(BIO_new_file(cert_path.c_str(), "r"));
  if (cert_bio == nullptr) {
    return Status::InvalidArgument("cannot read the recipient certificate " + cert_path.string());
  }
  SslPtr<X509> cert(PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr));
  if (cert == nullptr) {
    return Status::InvalidArgument(cert_path.string() + " is not a PEM certificate");
  }
  SslPtr<STACK_OF(X509)> recipients(sk_X509_new_null());
  if (recipients == nullptr || sk_X509_push(recipients.get(), cert.get()) == 0) {
    return Status::Internal("cannot build the recipient list");
  }
  (void)cert.release();  // the stack owns it now
  // A read-only BIO over the secure-heap bytes: the share is not copied to the normal heap.
  SslPtr<BIO> in(BIO_new_mem_buf(content.RevealSecret().data(),
                                         static_cast<int>(content.size())));
  SslPtr<CMS_ContentInfo> cms(
      CMS_encrypt(recipients.get(), in.get(), EVP_aes_256_cbc(), CMS_BINARY));
  if (cms == nullptr) {
    ERR_clear_error();
    return Status::InvalidArgument("cannot encrypt to " + cert_path.string() +
                                   " (unsupported key type?)");
  }
  SslPtr<BIO> out(BIO_new(BIO_s_mem()));
  if (out == nullptr || SMIME_write_CMS(out.get(), cms.get(), nullptr, CMS_BINARY) != 1) {
    ERR_clear_error();
    return Status::Internal("cannot write the CMS message");
  }
  char* data = nullptr;
  const long len = BIO_get_mem_data(out.get(), &data);
  if (len <= 0 || data == nullptr) return Status::Internal("empty CMS message");
  return Bytes(data, data + len);
}

}  // namespace escrow::ops
