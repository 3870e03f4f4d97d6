#pragma once

// The ceremony key's Shamir shares (libgfshare over GF(2^8), fed by RAND_bytes), their text
// form, and their encryption to custodians (CMS). Shares are secrets: they live in SecretBytes.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "base/bytes.h"
#include "base/result.h"
#include "base/secret_bytes.h"

namespace escrow::ops {

// One share of a backup's ceremony key. `backup_id` ties it to one keys.backup; `index` is its
// x coordinate (1..count); any `threshold` shares of the same backup give the key back.
struct CeremonyShare {
  std::string backup_id;  // 32 lowercase hex digits
  std::uint8_t index = 0;
  std::uint8_t threshold = 0;
  std::uint8_t count = 0;
  SecretBytes value;  // as long as the secret
};

// Splits `secret` into `count` shares of which any `threshold` recombine it.
// REQUIRES: 2 <= threshold <= count <= 255. kInvalidArgument otherwise.
Result<std::vector<CeremonyShare>> SplitSecret(const SecretBytes& secret,
                                               const std::string& backup_id,
                                               std::uint8_t threshold, std::uint8_t count);

// Recombines the secret from shares of one backup. kInvalidArgument (with a clear message)
// for fewer shares than their threshold, shares of different backups, or a repeated index.
// Fewer than the threshold of genuine shares can never be detected here alone: the caller
// authenticates the result (keys.backup's MAC).
Result<SecretBytes> CombineShares(const std::vector<CeremonyShare>& shares);

// The share as text (with a check value over all its fields), in secure memory.
SecretBytes RenderShare(const CeremonyShare& share);
// Parses RenderShare's text. kDataLoss if malformed or its check value does not match (a
// mistyped or damaged share); the message names `source` and never share content.
Result<CeremonyShare> ParseShare(std::span<const std::uint8_t> text, const std::string& source);

// Encrypts `content` to the certificate at `cert_path` as S/MIME CMS EnvelopedData
// (AES-256-CBC content key, RSA or EC key transport), which `openssl cms -decrypt -in F
// -recip CERT -inkey KEY` turns back into `content`. kInvalidArgument for an unreadable
// certificate; kInternal if OpenSSL fails.
Result<Bytes> CmsEncryptTo(const SecretBytes& content, const std::filesystem::path& cert_path);

// Lowercase hex of `n` random bytes (RAND_bytes). kInternal if the RNG fails.
Result<std::string> RandomHex(std::size_t n);

}  // namespace escrow::ops
