#include "vault/ops/vault_access.h"

#include <filesystem>
#include <system_error>
#include <utility>

#include "base/clock.h"
#include "vault/meta.h"

namespace escrow::ops {

OpenedVault::~OpenedVault() {
  audit_.reset();
  store_.reset();
  keys_.reset();
}

Result<std::unique_ptr<storage::Store>> OpenStore(const std::string& path, bool create,
                                                  int read_connections) {
  storage::StoreOptions options;
  options.path = path;
  options.create = create;
  options.read_connections = read_connections;
  return storage::Store::Open(options);
}

Result<std::unique_ptr<storage::Store>> OpenConfiguredStore(const vault::VaultConfig& config,
                                                            int read_connections) {
  if (config.db_url.empty()) {
    std::error_code ec;
    if (!std::filesystem::exists(config.db_path, ec)) {
      return Status::NotFound("no database at " + config.db_path);
    }
  }
  storage::StoreOptions options = vault::StoreOptionsFor(config);
  options.read_connections = read_connections;
  return storage::Store::Open(options);
}

Result<std::unique_ptr<hsm::KeyService>> OpenKeys(const hsm::HsmConfig& hsm) {
  Result<std::unique_ptr<hsm::KeyService>> keys = hsm::KeyService::Open(hsm);
  if (!keys.ok()) return keys.status().WithContext("hsm");
  return keys;
}

std::unique_ptr<vault::CommitPipeline> NewCommitPipeline(hsm::KeyService& keys, storage::Store& store,
                                             std::uint32_t audit_key_version) {
  return std::make_unique<vault::CommitPipeline>(keys, store, Clock::System(), audit_key_version,
                                           nullptr);
}

Result<OpenedVault> OpenVault(const vault::VaultConfig& config, bool start_audit) {
  OpenedVault v;
  ESCROW_ASSIGN_OR_RETURN(const hsm::HsmConfig hsm, vault::HsmConfigFor(config));
  ESCROW_ASSIGN_OR_RETURN(v.keys_, OpenKeys(hsm));
  Result<std::unique_ptr<storage::Store>> store = OpenConfiguredStore(config);
  if (!store.ok()) return store.status().WithContext("database");
  v.store_ = std::move(*store);
  Result<std::uint32_t> audit_version =
      vault::ReadMetaVersion(*v.store_, vault::MetaKey::kAuditKeyVersion);
  if (!audit_version.ok()) return audit_version.status().WithContext("database");
  v.audit_ = NewCommitPipeline(*v.keys_, *v.store_, *audit_version);
  if (start_audit) {
    if (Status s = v.audit_->Start(); !s.ok()) return s.WithContext("audit");
  }
  return v;
}

}  // namespace escrow::ops
