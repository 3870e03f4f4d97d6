#pragma once

// How a ceremony reaches the vault: the token, the database and the audit chain, borrowed
// (`Vault`) or opened from a config and owned (`OpenedVault`). Every ceremony's calls into
// hsm::KeyService::Open and storage::Store::Open go through this file.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "base/result.h"
#include "hsm/key_service.h"
#include "storage/store.h"
#include "vault/commit_pipeline.h"
#include "vault/config.h"

namespace escrow::ops {

// The vault a ceremony works on, borrowed from its caller (vaultctl opens it with OpenVault;
// tests pass their own). The audit log must be started unless the ceremony says otherwise.
struct Vault {
  hsm::KeyService& keys;
  storage::Store& store;
  vault::CommitPipeline& audit;
};

// The vault opened from a config and owned. Members are destroyed in reverse order (audit
// first). Not thread-safe; one per ceremony.
class OpenedVault {
 public:
  OpenedVault() = default;
  OpenedVault(OpenedVault&&) = default;
  OpenedVault& operator=(OpenedVault&&) = default;
  OpenedVault(const OpenedVault&) = delete;  // owns the HSM session and the database
  OpenedVault& operator=(const OpenedVault&) = delete;
  ~OpenedVault();

  Vault view() const { return Vault{*keys_, *store_, *audit_}; }
  hsm::KeyService& keys() const { return *keys_; }
  storage::Store& store() const { return *store_; }
  vault::CommitPipeline& audit() const { return *audit_; }

 private:
  friend Result<OpenedVault> OpenVault(const vault::VaultConfig& config, bool start_audit);
  std::unique_ptr<hsm::KeyService> keys_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<vault::CommitPipeline> audit_;
};

// Opens the token (user login) and the existing database named by `config`, and the audit
// chain under the database's audit key version; with `start_audit`, also starts the chain
// (which checks the newest group's MAC). kNotFound if the database does not exist; otherwise
// the Status of KeyService::Open ("hsm: ..."), Store::Open ("database: ..."), the meta row,
// or CommitPipeline::Start ("audit: ...").
Result<OpenedVault> OpenVault(const vault::VaultConfig& config, bool start_audit);

// Opens the token named by `hsm` (user login). The Status of KeyService::Open, "hsm: ...".
Result<std::unique_ptr<hsm::KeyService>> OpenKeys(const hsm::HsmConfig& hsm);

// The audit chain of `store` under audit key `audit_key_version`, not started; no checkpoint
// sink (a ceremony's head goes into its transcript or report instead).
std::unique_ptr<vault::CommitPipeline> NewCommitPipeline(hsm::KeyService& keys, storage::Store& store,
                                             std::uint32_t audit_key_version);

// Opens a database file without the HSM. `create` makes a new one (init); otherwise it must
// exist. A ceremony that only reads a little asks for one read connection.
Result<std::unique_ptr<storage::Store>> OpenStore(const std::string& path, bool create,
                                                  int read_connections = 4);

// Opens the database `config` names (SQLite at [database] path, or PostgreSQL at url) without
// the HSM; it must exist and hold a vault.
Result<std::unique_ptr<storage::Store>> OpenConfiguredStore(const vault::VaultConfig& config,
                                                            int read_connections = 4);

}  // namespace escrow::ops
