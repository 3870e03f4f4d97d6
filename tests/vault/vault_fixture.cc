#include "tests/vault/vault_fixture.h"

#include <catch2/catch.hpp>

namespace escrow::testing {

VaultFixture::VaultFixture(vault::EscrowOptions options) : options_(options) {
  Result<std::unique_ptr<hsm::KeyService>> keys = hsm::KeyService::Open(token_.config());
  REQUIRE(keys.ok());
  REQUIRE((*keys)->GenerateKey(hsm::KeyRole::kMaster, 1, false).ok());
  REQUIRE((*keys)->GenerateKey(hsm::KeyRole::kAudit, 1, false).ok());
  REQUIRE((*keys)->GenerateKey(hsm::KeyRole::kFingerprint, 1, false).ok());
  REQUIRE((*keys)->GenerateKey(hsm::KeyRole::kState, 1, false).ok());
  Result<std::unique_ptr<storage::Store>> store =
      storage::Store::Open({.path = db_path(), .create = true});
  REQUIRE(store.ok());
  REQUIRE((*store)
              ->Write([](storage::WriteTxn& txn) {
                ESCROW_RETURN_IF_ERROR(txn.meta().Set("active_master_key_version", "1"));
                ESCROW_RETURN_IF_ERROR(txn.meta().Set("fingerprint_key_version", "1"));
                ESCROW_RETURN_IF_ERROR(txn.meta().Set("state_key_version", "1"));
                return txn.meta().Set("audit_key_version", "1");
              })
              .ok());
  Open();
}

VaultFixture::~VaultFixture() { Close(); }

void VaultFixture::Open() {
  if (!keys_) {
    Result<std::unique_ptr<hsm::KeyService>> keys = hsm::KeyService::Open(token_.config());
    REQUIRE(keys.ok());
    keys_ = std::move(*keys);
  }
  Result<std::unique_ptr<storage::Store>> store = storage::Store::Open({.path = db_path()});
  REQUIRE(store.ok());
  store_ = std::move(*store);
  vault::EscrowOptions options = options_;
  options.audit_checkpoint = [this](const vault::AuditHead& h) { checkpoints_.push_back(h); };
  Result<std::unique_ptr<vault::EscrowService>> service =
      vault::EscrowService::Open(*keys_, *store_, clock_, std::move(options));
  INFO(service.status().ToString());
  REQUIRE(service.ok());
  service_ = std::move(*service);
}

void VaultFixture::Close() {
  service_.reset();
  store_.reset();
  keys_.reset();
}

void VaultFixture::Sql(const std::string& sql) {
  // An attacker with the file can drop the append-only triggers first.
  const std::string cmd = "sqlite3 '" + db_path() +
                          "' \"DROP TRIGGER IF EXISTS audit_no_update; "
                          "DROP TRIGGER IF EXISTS audit_no_delete; " +
                          sql + "\"";
  REQUIRE(RunCommand(cmd) == 0);
}

void VaultFixture::Enrol(const std::string& id, const std::string& owner,
                         vault::Ownership ownership, vault::Platform platform) {
  vault::DeviceSpec spec{"SN-" + id, "Laptop " + id, platform, ownership, owner, true};
  REQUIRE(service_->PutDevice(Mdm(), id, spec).ok());
  REQUIRE(service_->CheckIn(Mdm(), id).ok());
}

vault::Caller Mdm() { return vault::Caller::Mdm("mdm"); }
vault::Caller User(const std::string& name) { return vault::Caller::User(name, {}, "portal"); }
vault::Caller Helpdesk(const std::string& name) {
  vault::RoleSet r;
  r.Add(vault::Role::kHelpdesk);
  return vault::Caller::User(name, r, "portal");
}
vault::Caller Admin(const std::string& name) {
  vault::RoleSet r;
  r.Add(vault::Role::kAdmin);
  return vault::Caller::User(name, r, "portal");
}
vault::Caller Auditor(const std::string& name) {
  vault::RoleSet r;
  r.Add(vault::Role::kAuditor);
  return vault::Caller::User(name, r, "portal");
}
SecretBytes Key(std::string_view text) { return SecretBytes::CopyOf(text); }

}  // namespace escrow::testing
