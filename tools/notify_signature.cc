#include "tools/notify_signature.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "base/bytes.h"
#include "base/check.h"
#include "base/unique_fd.h"

namespace escrow::tools {
namespace {

constexpr std::size_t kMinSecretBytes = 32;
constexpr std::size_t kMaxFileBytes = 4096;

int HexValue(std::uint8_t c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool IsSpace(std::uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Decodes the hex between surrounding whitespace straight into secure memory.
Result<SecretBytes> DecodeHex(std::span<const std::uint8_t> text, const std::string& path) {
  std::size_t begin = 0;
  std::size_t end = text.size();
  while (begin < end && IsSpace(text[begin])) ++begin;
  while (end > begin && IsSpace(text[end - 1])) --end;
  const std::size_t digits = end - begin;
  if (digits % 2 != 0 || digits / 2 < kMinSecretBytes) {
    return Status::InvalidArgument("secret_file " + path + " must hold at least " +
                                   std::to_string(kMinSecretBytes) +
                                   " bytes as hex (an even number of hex digits, 64 or more)");
  }
  SecretBytes out(digits / 2);
  std::span<std::uint8_t> bytes = out.mutable_span();
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    const int hi = HexValue(text[begin + 2 * i]);
    const int lo = HexValue(text[begin + 2 * i + 1]);
    if (hi < 0 || lo < 0) {
      return Status::InvalidArgument("secret_file " + path + " is not hex");
    }
    bytes[i] = static_cast<std::uint8_t>(hi * 16 + lo);
  }
  return out;
}

}  // namespace

Result<SecretBytes> LoadWebhookSecret(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) {
    const int err = errno;
    const std::string why = "secret_file " + path + ": " + std::strerror(err);
    return err == ENOENT ? Status::NotFound(why) : Status::InvalidArgument(why);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return Status::InvalidArgument("secret_file " + path + " is not a regular file");
  }
  // A webhook secret readable by others lets them forge events to the receiver.
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    return Status::InvalidArgument("secret_file " + path +
                                   " is accessible by group or others (chmod 600 it)");
  }
  if (st.st_size <= 0 || static_cast<std::size_t>(st.st_size) > kMaxFileBytes) {
    return Status::InvalidArgument("secret_file " + path + " must hold 64 to " +
                                   std::to_string(kMaxFileBytes) + " characters");
  }
  SecretBytes raw(static_cast<std::size_t>(st.st_size));
  std::span<std::uint8_t> buf = raw.mutable_span();
  std::size_t got = 0;
  while (got < buf.size()) {
    const ssize_t n = ::read(fd.get(), buf.data() + got, buf.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  if (got != buf.size()) return Status::InvalidArgument("secret_file " + path + ": short read");
  return DecodeHex(raw.RevealSecret(), path);
}

std::string SignatureHeader(const SecretBytes& secret, std::int64_t t, std::string_view body) {
  const std::string stamp = std::to_string(t);
  std::string message;
  message.reserve(stamp.size() + 1 + body.size());
  message.append(stamp).append(".").append(body);
  std::array<std::uint8_t, EVP_MAX_MD_SIZE> mac{};
  unsigned int mac_len = 0;
  const std::span<const std::uint8_t> key = secret.RevealSecret();
  const unsigned char* ok =
      HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(message.data()),  // NOLINT: bytes as chars
           message.size(), mac.data(), &mac_len);
  // HMAC-SHA256 with a key of a few dozen bytes fails only if OpenSSL itself is broken.
  ESCROW_CHECK(ok != nullptr && mac_len == 32);
  return "t=" + stamp + ",v1=" + HexEncode(std::span<const std::uint8_t>(mac.data(), mac_len));
}

}  // namespace escrow::tools
