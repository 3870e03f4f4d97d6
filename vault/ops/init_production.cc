// The production option set of the init ceremony (`vaultctl init --config FILE ...`): an
// existing token is adopted, or a new one initialised with the SO PIN; the config names the
// HSM and database, with TLS and IdP paths the operator fills in before vaultd starts.

#include <memory>
#include <utility>

#include "hsm/pin_file.h"
#include "hsm/pkcs11_uri.h"
#include "hsm/token_init.h"
#include "vault/ops/init.h"
#include "vault/ops/init_mode.h"

namespace escrow::ops {
namespace {

namespace fs = std::filesystem;

class ProductionInit final : public InitMode {
 public:
  explicit ProductionInit(ProductionInitOptions options) : o_(std::move(options)) {
    paths_.config = fs::absolute(o_.config).lexically_normal();
    const fs::path dir = paths_.config.parent_path();
    paths_.db = o_.db.empty() ? dir / "vault.db" : fs::absolute(o_.db).lexically_normal();
    paths_.transcript = dir / "ceremony" / "init.txt";
    token_name_ = o_.token_uri.empty() ? o_.token_label : o_.token_uri;
  }

  bool dev() const override { return false; }
  const std::string& module() const override { return o_.module; }
  const std::string& token_label() const override { return token_name_; }
  bool backup_capable() const override { return o_.backup_capable; }
  InitPaths paths() const override { return paths_; }

  Status CheckOptions() override {
    if (o_.config.empty() || o_.module.empty() || token_name_.empty() || o_.pin_file.empty()) {
      return Status::InvalidArgument(
          "init --config needs --module, --token-label (or --token) and --pin-file");
    }
    return hsm::SelectToken(o_.token_label, o_.token_uri).status();
  }

  std::vector<InitClaim> Claims() const override {
    std::vector<InitClaim> claims = {Refusal(paths_.config, "the config")};
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
      claims.push_back(Refusal(paths_.db.string() + suffix, "the database"));
    }
    claims.push_back(Refusal(paths_.transcript, "the transcript"));
    return claims;
  }

  // Finds the token or, with an SO PIN, initialises a new one with the user PIN of --pin-file.
  Result<bool> PrepareToken(InitGuard& /*guard*/) override {
    if (Result<SecretBytes> pin = hsm::ReadPinFile(o_.pin_file); !pin.ok()) return pin.status();
    Result<std::string> serial = hsm::TokenSerial(Hsm());
    if (serial.ok()) return false;
    if (o_.so_pin_file.empty()) {
      return Status::FailedPrecondition(serial.status().message() +
                                        " (give --so-pin-file to initialise a new token)");
    }
    ESCROW_ASSIGN_OR_RETURN(SecretBytes so_pin, hsm::ReadPinFile(o_.so_pin_file));
    ESCROW_ASSIGN_OR_RETURN(SecretBytes user_pin, hsm::ReadPinFile(o_.pin_file));
    ESCROW_ASSIGN_OR_RETURN(const hsm::TokenSelector token,
                            hsm::SelectToken(o_.token_label, o_.token_uri));
    if (!token.token) {
      return Status::InvalidArgument("initialising a new token needs its label (token=...)");
    }
    ESCROW_RETURN_IF_ERROR(
        hsm::InitializeToken(o_.module, *token.token, so_pin, user_pin, o_.init_args)
            .WithContext("initialising the token"));
    initialised_ = true;
    return true;
  }
  hsm::HsmConfig Hsm() const override {
    hsm::HsmConfig hsm{o_.module, o_.token_label, o_.pin_file, {}};
    hsm.token_uri = o_.token_uri;
    hsm.init_args = o_.init_args;
    return hsm;
  }
  // An adopted token stays: the keys this init generated must not.
  bool TokenOutlivesFailure() const override { return true; }
  Status CreateFiles(InitGuard& /*guard*/) override { return Status::Ok(); }

  vault::VaultConfig Config() const override {
    const fs::path dir = paths_.config.parent_path();
    vault::VaultConfig c;
    c.dev = false;
    c.tls_cert = (dir / "tls" / "server.crt").string();
    c.tls_key = (dir / "tls" / "server.key").string();
    c.client_ca = (dir / "tls" / "client-ca.crt").string();
    c.issuers = {"https://idp.example.invalid"};
    c.audience = "escrow-vault";
    c.idp_keys = {(dir / "idp" / "signing.pub").string()};
    c.hsm_module = fs::absolute(o_.module).string();
    c.hsm_token_label = o_.token_label;
    c.hsm_token_uri = o_.token_uri;
    c.hsm_init_args = o_.init_args;
    c.hsm_pin_file = fs::absolute(o_.pin_file).string();
    if (!o_.softhsm_conf.empty()) c.softhsm_conf = fs::absolute(o_.softhsm_conf).string();
    c.db_path = paths_.db.string();
    return c;
  }

  void Describe(InitTranscript& t) const override {
    t.token_origin = initialised_ ? "(initialised by this ceremony)" : "(adopted)";
    t.active_master_key_version = 1;
    t.paths = {
        {"config", paths_.config}, {"database", paths_.db}, {"transcript", paths_.transcript}};
    t.closing = "next: fill in [tls], [[clients]] and [idp] of the config before starting vaultd";
  }

 private:
  static InitClaim Refusal(const fs::path& path, std::string_view what) {
    return {path,
            std::string(what) + " " + path.string() + " exists; init refuses to overwrite it"};
  }

  const ProductionInitOptions o_;
  InitPaths paths_;
  std::string token_name_;  // the label, or the URI
  bool initialised_ = false;
};

}  // namespace

std::unique_ptr<InitMode> ProductionInitMode(const ProductionInitOptions& options) {
  return std::make_unique<ProductionInit>(options);
}

}  // namespace escrow::ops
