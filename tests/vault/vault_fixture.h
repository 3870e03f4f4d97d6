#pragma once

#include <memory>
#include <string>
#include <vector>

#include "hsm/key_service.h"
#include "storage/store.h"
#include "tests/fakes/manual_clock.h"
#include "tests/support/softhsm_token.h"
#include "tests/support/temp_dir.h"
#include "vault/commit_pipeline.h"
#include "vault/escrow_service.h"

namespace escrow::testing {

// A vault on a real SoftHSMv2 token and a real SQLite file, with a manual clock.
// Reopen() tears the objects down and opens them again on the same token and file, as a
// restarted process would.
class VaultFixture {
 public:
  explicit VaultFixture(vault::EscrowOptions options = {});
  VaultFixture(const VaultFixture&) = delete;  // owns the token, the database and services
  VaultFixture& operator=(const VaultFixture&) = delete;
  VaultFixture(VaultFixture&&) = delete;
  VaultFixture& operator=(VaultFixture&&) = delete;
  ~VaultFixture();

  void Open();
  void Close();
  void Reopen() {
    Close();
    Open();
  }

  vault::EscrowService& service() { return *service_; }
  // The service's own commit pipeline (and, through it, the audit chain).
  vault::CommitPipeline& audit() { return service_->commits(); }
  storage::Store& store() { return *store_; }
  hsm::KeyService& keys() { return *keys_; }
  ManualClock& clock() { return clock_; }
  std::string db_path() const { return dir_.str() + "/vault.db"; }
  const TempDir& dir() const { return dir_; }
  std::vector<vault::AuditHead>& checkpoints() { return checkpoints_; }
  // Runs SQL on the database file with the sqlite3 tool, as an attacker with file access
  // would (dropping the append-only triggers on the audit table first).
  void Sql(const std::string& sql);

  // Enrols a device through mdm, checks it in, and returns its id.
  void Enrol(const std::string& id, const std::string& owner,
             vault::Ownership ownership = vault::Ownership::kCorporate,
             vault::Platform platform = vault::Platform::kMacos);

 private:
  SoftHsmToken token_;
  TempDir dir_;
  ManualClock clock_;
  vault::EscrowOptions options_;
  std::unique_ptr<hsm::KeyService> keys_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<vault::EscrowService> service_;
  std::vector<vault::AuditHead> checkpoints_;
};

vault::Caller Mdm();
vault::Caller User(const std::string& name);
vault::Caller Helpdesk(const std::string& name = "hd");
vault::Caller Admin(const std::string& name = "ad");
vault::Caller Auditor(const std::string& name = "au");
SecretBytes Key(std::string_view text);

}  // namespace escrow::testing
