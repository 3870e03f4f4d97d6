#include "vault/ops/notify_conf.h"

#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cerrno>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "base/secret_bytes.h"
#include "vault/ops/files.h"

namespace escrow::ops {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kSecretBytes = 32;

// A TOML basic string: quotes and backslashes escaped (paths hold nothing else that needs it).
std::string TomlString(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// `key = value`, and the comment (if any) from column 41 on.
std::string Line(std::string_view key, std::string_view value, std::string_view comment = {}) {
  constexpr std::size_t kCommentColumn = 41;
  std::string line = std::string(key) + " = " + std::string(value);
  if (!comment.empty()) {
    line.resize(std::max(line.size() + 1, kCommentColumn), ' ');
    line += "# " + std::string(comment);
  }
  return line + "\n";
}

const DevClientCert* Notifier(const DevPki& pki) {
  for (const DevClientCert& c : pki.clients) {
    if (c.name == kNotifierClientName) return &c;
  }
  return nullptr;
}

}  // namespace

std::string RenderNotifyConf(const fs::path& state_dir, std::string_view listen,
                             const DevPki& pki) {
  const DevClientCert* notifier = Notifier(pki);
  std::string o = "# notify.conf: vault-notify's configuration (README \"vault-notify\").\n";
  o += Line("vault_url", TomlString("https://" + std::string(listen)),
            "vaultd's listen address from vault.conf");
  o += Line("ca", TomlString(pki.ca_cert.string()), "the CA that signed vaultd's server cert");
  if (notifier != nullptr) {
    o += Line("cert", TomlString(notifier->cert_path.string()), "this client's certificate");
    o += Line("key", TomlString(notifier->key_path.string()));
  }
  o += Line("webhook_url", "\"http://127.0.0.1:9099/events\"");
  o += Line("secret_file", TomlString((state_dir / kNotifySecretName).string()),
            "32 random bytes hex, mode 0600");
  o += Line("state_dir", TomlString((state_dir / kNotifyStateName).string()), "created 0700");
  o += "batch_size = 100\npoll_seconds = 5\n";
  return o;
}

Status WriteNotifyFiles(const fs::path& state_dir, std::string_view listen, const DevPki& pki) {
  if (Notifier(pki) == nullptr) return Status::Internal("the dev PKI has no notifier certificate");
  std::array<std::uint8_t, kSecretBytes> raw{};
  if (RAND_bytes(raw.data(), static_cast<int>(raw.size())) != 1) {
    return Status::Internal("RAND_bytes failed");
  }
  // The webhook secret as hex, in memory only as SecretBytes; the raw bytes wiped at once.
  static constexpr std::string_view kHex = "0123456789abcdef";
  SecretBytes hex(2 * kSecretBytes);
  std::span<std::uint8_t> out = hex.mutable_span();
  for (std::size_t i = 0; i < kSecretBytes; ++i) {
    out[2 * i] = static_cast<std::uint8_t>(kHex[raw[i] >> 4]);
    out[2 * i + 1] = static_cast<std::uint8_t>(kHex[raw[i] & 0x0f]);
  }
  OPENSSL_cleanse(raw.data(), raw.size());
  ESCROW_RETURN_IF_ERROR(WriteNewPrivateFile(state_dir / kNotifySecretName, hex.RevealSecret()));
  const fs::path notify_state = state_dir / kNotifyStateName;
  if (::mkdir(notify_state.c_str(), 0700) != 0) {
    return FileError("cannot create", notify_state, errno);
  }
  return WriteNewFile(state_dir / kNotifyConfName, RenderNotifyConf(state_dir, listen, pki),
                      0644);
}

}  // namespace escrow::ops
