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

Result<OpenedVault> OpenVault(const vault::VaultConfig& config, bool start_audit) {
  std::error_code ec;
  if (!std::filesystem::exists(config.db_path, ec)) {
    return Status::NotFound("no database at " + config.db_path);
  }
  OpenedVault v;
  Result<std::unique_ptr<hsm::KeyService>> keys =
      hsm::KeyService::Open({config.hsm_module, config.hsm_token_label, config.hsm_pin_file});
  if (!keys.ok()) return keys.status().WithContext("hsm");
  v.keys_ = std::move(*keys);
  Result<std::unique_ptr<storage::Store>> store = OpenStore(config.db_path, false);
  if (!store.ok()) return store.status().WithContext("database");
  v.store_ = std::move(*store);
  Result<std::uint32_t> audit_version =
      vault::ReadMetaVersion(*v.store_, vault::MetaKey::kAuditKeyVersion);
  if (!audit_version.ok()) return audit_version.status().WithContext("database");
  v.audit_ = std::make_unique<vault::AuditLog>(*v.keys_, *v.store_, Clock::System(),
                                               *audit_version, nullptr);
  if (start_audit) {
    if (Status s = v.audit_->Start(); !s.ok()) return s.WithContext("audit");
  }
  return v;
}

}  // namespace escrow::ops
