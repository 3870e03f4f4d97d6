// The development option set of the init ceremony (`vaultctl init --dev --state-dir DIR`):
// everything in one directory, a token of its own with random PINs, the dev PKI and IdP key,
// a loopback config marked dev = true.

#include <sys/stat.h>

#include <array>
#include <cerrno>
#include <memory>
#include <string_view>
#include <system_error>
#include <utility>

#include <openssl/rand.h>

#include "base/host_port.h"
#include "base/secret_bytes.h"
#include "hsm/token_init.h"
#include "vault/ops/dev_certs.h"
#include "vault/ops/files.h"
#include "vault/ops/init.h"
#include "vault/ops/init_mode.h"
#include "vault/ops/notify_conf.h"

namespace escrow::ops {
namespace {

namespace fs = std::filesystem;

// Everything a dev init creates directly in the state directory. Any of them present means
// the directory is (or was partly) initialised; on failure exactly these are removed.
constexpr std::array<std::string_view, 12> kStateEntries = {
    "vault.conf", "vault.db",        "vault.db-wal",    "vault.db-shm",
    "vault.db-journal", "hsm",       "tls",             "idp",
    "ceremony",   kNotifyConfName,   kNotifySecretName, kNotifyStateName};

constexpr std::string_view kDevIssuer = "https://idp.dev.local";
constexpr std::string_view kDevAudience = "escrow-vault";
constexpr std::size_t kPinChars = 16;
// 32 symbols, so a random byte masked to 5 bits picks one uniformly; no 0/O, 1/l look-alikes.
constexpr std::string_view kPinAlphabet = "abcdefghijkmnpqrstuvwxyz23456789";

Status MakeDir(const fs::path& dir) {
  if (::mkdir(dir.c_str(), 0700) != 0) return FileError("cannot create", dir, errno);
  return Status::Ok();
}

// Creates the state directory (0700) if missing, or checks that an existing one is an empty
// directory and tightens it to 0700. Returns whether it was created.
Result<bool> PrepareStateDir(const fs::path& dir) {
  std::error_code ec;
  const fs::file_status st = fs::symlink_status(dir, ec);
  if (!fs::exists(st)) {
    if (!dir.parent_path().empty()) fs::create_directories(dir.parent_path(), ec);
    ESCROW_RETURN_IF_ERROR(MakeDir(dir));
    return true;
  }
  if (!fs::is_directory(fs::status(dir, ec))) {
    return Status::AlreadyExists(dir.string() + " exists and is not a directory");
  }
  if (!fs::is_empty(dir, ec) || ec) {
    return Status::AlreadyExists(dir.string() + " is not empty; give a new or empty directory");
  }
  if (::chmod(dir.c_str(), 0700) != 0) return FileError("cannot chmod", dir, errno);
  return false;
}

// A random PIN of kPinChars characters from RAND_bytes, held only in SecretBytes.
Result<SecretBytes> RandomPin() {
  SecretBytes raw(kPinChars);
  if (RAND_bytes(raw.mutable_span().data(), static_cast<int>(raw.size())) != 1) {
    return Status::Internal("RAND_bytes failed");
  }
  SecretBytes pin(kPinChars);
  const std::span<const std::uint8_t> r = raw.RevealSecret();
  std::span<std::uint8_t> out = pin.mutable_span();
  for (std::size_t i = 0; i < kPinChars; ++i) {
    out[i] = static_cast<std::uint8_t>(kPinAlphabet[r[i] & 31U]);
  }
  return pin;
}

class DevInit final : public InitMode {
 public:
  explicit DevInit(DevInitOptions options) : o_(std::move(options)) {
    if (!o_.state_dir.empty()) dir_ = fs::absolute(o_.state_dir).lexically_normal();
    softhsm_conf_ =
        o_.shared_softhsm_conf.empty() ? DevSoftHsmConf(dir_) : fs::path(o_.shared_softhsm_conf);
  }

  bool dev() const override { return true; }
  const std::string& module() const override { return o_.module_path; }
  const std::string& token_label() const override { return o_.token_label; }
  bool backup_capable() const override { return o_.backup_capable; }
  InitPaths paths() const override {
    return {dir_ / "vault.conf", dir_ / "vault.db", dir_ / "ceremony" / "init.txt"};
  }

  Status CheckOptions() override {
    Result<HostPort> hp = ParseHostPort(o_.listen);
    if (!hp.ok()) {
      return Status::InvalidArgument("--listen must be HOST:PORT, got \"" + o_.listen + "\"");
    }
    if (!IsLoopbackHost(hp->host)) {
      return Status::InvalidArgument(
          "a dev state listens on loopback only (vaultd refuses "
          "dev = true elsewhere), got \"" +
          o_.listen + "\"");
    }
    if (o_.state_dir.empty()) return Status::InvalidArgument("--state-dir is empty");
    return Status::Ok();
  }

  std::vector<InitClaim> Claims() const override {
    std::vector<InitClaim> claims;
    for (std::string_view entry : kStateEntries) {
      claims.push_back({dir_ / entry, dir_.string() + " is already initialised (it has " +
                                          std::string(entry) + "); refusing to touch it"});
    }
    return claims;
  }

  // The directory, and a token of its own: its SoftHSMv2 store (unless shared), random PINs.
  Result<bool> PrepareToken(InitGuard& guard) override {
    ESCROW_ASSIGN_OR_RETURN(const bool created_dir, PrepareStateDir(dir_));
    if (created_dir) guard.MadeDir(dir_);
    for (std::string_view entry : kStateEntries) guard.Tree(dir_ / entry);
    const fs::path hsm_dir = dir_ / "hsm";
    for (const fs::path& d :
         {hsm_dir, dir_ / "tls", dir_ / "tls" / "clients", dir_ / "idp", dir_ / "ceremony"}) {
      ESCROW_RETURN_IF_ERROR(MakeDir(d));
    }
    if (o_.shared_softhsm_conf.empty()) {
      ESCROW_RETURN_IF_ERROR(MakeDir(hsm_dir / "tokens"));
      ESCROW_RETURN_IF_ERROR(WriteNewFile(
          softhsm_conf_,
          "# SoftHSMv2 token store of the escrow vault's development state (vaultctl init --dev)\n"
          "directories.tokendir = " +
              (hsm_dir / "tokens").string() +
              "\n"
              "objectstore.backend = file\n"
              "log.level = ERROR\n"
              "slots.removable = false\n",
          0600));
    }
    ESCROW_ASSIGN_OR_RETURN(SecretBytes user_pin, RandomPin());
    ESCROW_ASSIGN_OR_RETURN(SecretBytes so_pin, RandomPin());
    ESCROW_RETURN_IF_ERROR(WriteNewFile(UserPin(), user_pin.RevealSecret(), 0600));
    ESCROW_RETURN_IF_ERROR(WriteNewFile(SoPin(), so_pin.RevealSecret(), 0600));
    if (Status s = hsm::InitializeToken(o_.module_path, o_.token_label, so_pin, user_pin);
        !s.ok()) {
      return s.WithContext("initialising the token");
    }
    return true;
  }
  hsm::HsmConfig Hsm() const override {
    return {o_.module_path, o_.token_label, UserPin().string(), {}};
  }
  // The token's store is under hsm/, which a failure removes whole.
  bool TokenOutlivesFailure() const override { return !o_.shared_softhsm_conf.empty(); }

  // Development PKI and identity provider.
  Status CreateFiles(InitGuard& /*guard*/) override {
    static const std::array<std::string, 3> kClientNames = {"portal", "mdm",
                                                            std::string(kNotifierClientName)};
    ESCROW_ASSIGN_OR_RETURN(pki_, CreateDevPki(dir_ / "tls", kClientNames));
    ESCROW_RETURN_IF_ERROR(CreateEcSigningKey(IdpKey(), IdpPub()));
    // vault-notify's side: its config, webhook secret and state directory.
    return WriteNotifyFiles(dir_, o_.listen, pki_);
  }

  vault::VaultConfig Config() const override {
    vault::VaultConfig config;
    config.dev = true;
    config.listen = o_.listen;
    config.tls_cert = pki_.server_cert.string();
    config.tls_key = pki_.server_key.string();
    config.client_ca = pki_.ca_cert.string();
    for (const DevClientCert& client : pki_.clients) {
      // A client named for its role (mdm, notifier) has it; the portal is a frontend.
      const bool named_role = client.name == "mdm" || client.name == kNotifierClientName;
      config.clients.push_back(
          {client.name, client.fingerprint, named_role ? client.name : "frontend"});
    }
    config.issuers = {std::string(kDevIssuer)};
    config.audience = std::string(kDevAudience);
    config.idp_keys = {IdpPub().string()};
    config.hsm_module = o_.module_path;
    config.hsm_token_label = o_.token_label;
    config.hsm_pin_file = UserPin().string();
    config.softhsm_conf = softhsm_conf_.string();
    config.db_path = paths().db.string();
    return config;
  }

  void Describe(InitTranscript& t) const override {
    t.listen = o_.listen;
    const InitPaths p = paths();
    t.files = {{"config", p.config}, {"database", p.db}, {"softhsm config", softhsm_conf_}};
    if (o_.shared_softhsm_conf.empty())
      t.files.emplace_back("token store", dir_ / "hsm" / "tokens");
    t.files.insert(t.files.end(), {{"user PIN", UserPin()},
                                   {"SO PIN", SoPin()},
                                   {"CA", pki_.ca_cert},
                                   {"CA key", pki_.ca_key},
                                   {"server cert", pki_.server_cert},
                                   {"server key", pki_.server_key}});
    for (const DevClientCert& client : pki_.clients) {
      t.files.emplace_back("client " + client.name, client.cert_path);
      t.files.emplace_back("client " + client.name + " key", client.key_path);
    }
    t.files.emplace_back("IdP signing key", IdpKey());
    t.files.emplace_back("IdP public key", IdpPub());
    t.files.emplace_back("vault-notify config", dir_ / kNotifyConfName);
    t.files.emplace_back("vault-notify webhook secret", dir_ / kNotifySecretName);
    t.files.emplace_back("transcript", p.transcript);
  }

 private:
  fs::path UserPin() const { return dir_ / "hsm" / "user.pin"; }
  fs::path SoPin() const { return dir_ / "hsm" / "so.pin"; }
  fs::path IdpKey() const { return dir_ / "idp" / "dev-signing.key"; }
  fs::path IdpPub() const { return dir_ / "idp" / "dev-signing.pub"; }

  const DevInitOptions o_;
  fs::path dir_;
  fs::path softhsm_conf_;
  DevPki pki_;
};

}  // namespace

std::filesystem::path DevSoftHsmConf(const std::filesystem::path& state_dir) {
  if (state_dir.empty()) return {};
  return fs::absolute(state_dir).lexically_normal() / "hsm" / "softhsm2.conf";
}

std::unique_ptr<InitMode> DevInitMode(const DevInitOptions& options) {
  return std::make_unique<DevInit>(options);
}

}  // namespace escrow::ops
