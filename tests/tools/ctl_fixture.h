#pragma once

// A production vault made by the real `vaultctl init --config` on a fresh SoftHSMv2 token of
// tests/support (SOFTHSM2_CONF is inherited by the vaultctl child processes and recorded in
// the config), plus in-process access to the same token and database: an EscrowService for
// concurrent traffic and a fast bulk loader of sealed records.

#include <atomic>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "base/clock.h"
#include "hsm/key_service.h"
#include "storage/store.h"
#include "tests/support/softhsm_token.h"
#include "tests/support/temp_dir.h"
#include "tests/tools/tools_test_util.h"
#include "vault/associated_data.h"
#include "vault/escrow_service.h"
#include "vault/ops/upgrade.h"

namespace escrow::testing {

struct CtlRun {
  int exit_code = -1;  // -1 if killed by a signal
  bool killed = false;
  std::string out;
  std::string err;
};

class CtlFixture {
 public:
  explicit CtlFixture(bool backup_capable = true) {
    config_ = dir_.str() + "/etc/vault.conf";
    CtlRun r = Run("init --config " + ShellQuote(config_) + " --module " +
                   token_.module_path() + " --token-label " + ShellQuote(token_.label()) +
                   " --pin-file " + ShellQuote(token_.pin_file()) +
                   (backup_capable ? " --backup-capable" : ""));
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    init_transcript_ = r.out;
  }
  CtlFixture(const CtlFixture&) = delete;
  CtlFixture& operator=(const CtlFixture&) = delete;
  CtlFixture(CtlFixture&&) = delete;
  CtlFixture& operator=(CtlFixture&&) = delete;
  ~CtlFixture() { Close(); }

  // Runs vaultctl with `args` (and an optional environment prefix), capturing both streams.
  CtlRun Run(const std::string& args, const std::string& env = "") const {
    const std::string err_path = dir_.str() + "/stderr.txt";
    std::string out;
    const int status = RunCommand(env + " " + ShellQuote(VAULTCTL_PATH) + " " + args + " 2>" +
                                      ShellQuote(err_path),
                                  &out);
    CtlRun r;
    r.out = out;
    r.err = ReadFileBytes(err_path);
    r.exit_code = status;
    // Killed by a signal: the popen'ed shell either was the process (-1) or reports 128 + 9.
    r.killed = status == -1 || status == 128 + 9;
    return r;
  }
  CtlRun Ctl(const std::string& command, const std::string& extra = "",
             const std::string& env = "") const {
    return Run(command + " --config " + ShellQuote(config_) + " " + extra, env);
  }

  // Opens the token and database in-process (a second "vaultd").
  void Open() {
    Result<std::unique_ptr<hsm::KeyService>> keys = hsm::KeyService::Open(token_.config());
    REQUIRE(keys.ok());
    keys_ = std::move(*keys);
    Result<std::unique_ptr<storage::Store>> store = storage::Store::Open({.path = db_path()});
    REQUIRE(store.ok());
    store_ = std::move(*store);
    Result<std::unique_ptr<vault::EscrowService>> service =
        vault::EscrowService::Open(*keys_, *store_, Clock::System(), vault::EscrowOptions{});
    INFO(service.status().ToString());
    REQUIRE(service.ok());
    service_ = std::move(*service);
  }
  void Close() {
    service_.reset();
    store_.reset();
    keys_.reset();
  }

  // The recovery key stored for device i (macOS format, unique per i).
  static std::string KeyFor(std::size_t i) {
    char buf[32];
    // Both numbers are below 10000: it always fits, nothing to check.
    (void)std::snprintf(buf, sizeof buf, "K%03zu-%04zu-AAAA-BBBB-CCCC-DDDD", i / 10000 % 1000,
                        i % 10000);
    return buf;
  }
  static std::string DeviceId(std::size_t i) { return "dev-" + std::to_string(i); }
  static std::string OwnerOf(std::size_t i) { return "user" + std::to_string(i % 50); }

  // Inserts devices [first, first+n) with one key version each, sealed under the active
  // master key with the vault's own associated data, in large transactions.
  void Populate(std::size_t first, std::size_t n) {
    Result<std::optional<std::string>> active = storage::ReadValue(
        *store_, [](storage::ReadTxn& txn) { return txn.meta().Get("active_master_key_version"); });
    REQUIRE(active.ok());
    const auto mkv = static_cast<std::uint32_t>(std::stoul(active->value()));
    const std::int64_t now = ToUnixMillis(Clock::System().Now());
    constexpr std::size_t kBatch = 1000;
    for (std::size_t start = first; start < first + n; start += kBatch) {
      std::vector<std::pair<storage::DeviceRow, storage::KeyVersionRow>> rows;
      for (std::size_t i = start; i < std::min(first + n, start + kBatch); ++i) {
        storage::DeviceRow d;
        d.id = DeviceId(i);
        d.serial = "SN" + std::to_string(i);
        d.name = "Mac " + std::to_string(i);
        d.platform = storage::Platform::kMacos;
        d.ownership = storage::Ownership::kCorporate;
        d.owner = OwnerOf(i);
        d.encryption_enabled = true;
        d.last_checkin_ms = now;
        d.created_ms = d.updated_ms = now;
        storage::KeyVersionRow v;
        v.device_id = d.id;
        v.version = 1;
        v.kind = storage::Platform::kMacos;
        v.owner = d.owner;
        v.ownership = storage::Ownership::kCorporate;
        v.master_key_version = mkv;
        v.state = storage::VersionState::kActive;
        v.stored_ms = now;
        v.stored_by = "mdm";
        const Bytes aad = vault::RecoveryKeyAad(vault::Platform::kMacos, d.id, 1, mkv,
                                                vault::Ownership::kCorporate, d.owner);
        Result<hsm::Sealed> sealed = keys_->Encrypt(mkv, AsBytes(KeyFor(i)), aad);
        REQUIRE(sealed.ok());
        v.iv = sealed->iv;
        v.ciphertext = sealed->ciphertext;
        v.tag = sealed->tag;
        rows.emplace_back(std::move(d), std::move(v));
      }
      Status s = store_->Write([&](storage::WriteTxn& txn) -> Status {
        for (const auto& [d, v] : rows) {
          if (Status e = txn.devices().Upsert(d); !e.ok()) return e;
          if (Status e = txn.versions().Insert(v); !e.ok()) return e;
        }
        return Status::Ok();
      });
      INFO(s.ToString());
      REQUIRE(s.ok());
    }
    // Rows written behind the service's back, as a first-release vault has them: the upgrade
    // ceremony fingerprints them and gives each device its state record.
    REQUIRE(service_);
    Result<ops::UpgradeReport> upgraded =
        ops::Upgrade(ops::Vault{*keys_, *store_, service_->commits()});
    INFO(upgraded.status().ToString());
    REQUIRE(upgraded.ok());
  }

  // Retrieves device i's current key through the escrow service (as its owner would) and
  // returns it, or the error's message.
  std::string Retrieve(std::size_t i) {
    vault::Caller owner = vault::Caller::User(OwnerOf(i), {}, "portal");
    Result<vault::RetrievedKey> key = service_->Retrieve(owner, DeviceId(i), "", std::nullopt);
    if (!key.ok()) return "error: " + key.status().ToString();
    return std::string(key->recovery_key.RevealSecretText());
  }

  // Counts per master-key version, zeros left out.
  std::map<std::uint32_t, std::int64_t> Counts() {
    Result<std::vector<std::pair<std::uint32_t, std::int64_t>>> c = storage::ReadValue(
        *store_, [](storage::ReadTxn& txn) { return txn.versions().CountByMasterKey(); });
    REQUIRE(c.ok());
    std::map<std::uint32_t, std::int64_t> out;
    for (const auto& [v, n] : *c) {
      if (n > 0) out[v] = n;
    }
    return out;
  }

  std::vector<hsm::KeyInfo> TokenKeys() {
    Result<std::vector<hsm::KeyInfo>> keys = keys_->ListKeys();
    REQUIRE(keys.ok());
    return *keys;
  }

  // The fixture token's SO PIN in a 0600 file ("so-pin-<n>" for label "...-<n>").
  std::string SoPinFile() const {
    return token_.WriteFile("so.pin",
                            "so-pin-" + token_.label().substr(token_.label().rfind('-') + 1));
  }

  const std::string& config() const { return config_; }
  std::string db_path() const { return dir_.str() + "/etc/vault.db"; }
  const TempDir& dir() const { return dir_; }
  const SoftHsmToken& token() const { return token_; }
  const std::string& init_transcript() const { return init_transcript_; }
  vault::EscrowService& service() { return *service_; }
  vault::CommitPipeline& audit() { return service_->commits(); }
  storage::Store& store() { return *store_; }
  hsm::KeyService& keys() { return *keys_; }

 private:
  SoftHsmToken token_;
  TempDir dir_;
  std::string config_;
  std::string init_transcript_;
  std::unique_ptr<hsm::KeyService> keys_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<vault::EscrowService> service_;
};

}  // namespace escrow::testing
