// vaultctl master-key rotate --config FILE [--retire-old --yes]
//
// Rotation while vaultd serves, resumable after a crash or kill -9 at any point:
//   1. meta rotation_target = N+1 (with an audit record) BEFORE the key exists, so that a
//      re-run finds the rotation in progress and never generates yet another key;
//   2. escrow-master-v<N+1> is generated (or found, if an earlier run got that far) and the
//      token store synced to disk (SoftHSMv2 does not fsync), then probed;
//   3. meta active_master_key_version = N+1: every write transaction of vaultd reads it, so
//      new records are sealed under the new key from here on;
//   4. every record under an older version is decrypted and re-encrypted by the HSM (the
//      plaintext only in SecretBytes) and replaced in batches, each its own transaction,
//      with WriteTxn::ReplaceSealed refusing a row whose version changed meanwhile; one
//      batch commits while the HSM works on the next. This repeats until
//      ListSealedUnder(old) is empty for every old version;
//   5. rotation_target is cleared (with an audit record).
// A kill at any point leaves either the old or the new sealing of every record in the
// database, each decryptable with the key version its row names; re-running resumes.

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <iostream>
#include <sstream>

#include <boost/json.hpp>

#include "hsm/token_sync.h"
#include "tools/ctl_commands.h"
#include "vault/associated_data.h"
#include "vault/meta.h"
#include "vault/types.h"

namespace escrow::tools {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kDefaultBatch = 500;

// Test hook for the crash tests: ESCROW_CTL_CRASH_AT=<point> makes the process SIGKILL itself
// at that point ("target", "keygen", "activate", "batch:<n>" after the n-th committed batch,
// "complete"), exactly as a kill -9 from outside would. Harmless in production: it can only
// stop the process at a point where stopping is already safe.
class CrashPoints {
 public:
  CrashPoints() {
    // NOLINTNEXTLINE(concurrency-mt-unsafe): read once, before any thread
    const char* at = std::getenv("ESCROW_CTL_CRASH_AT");
    if (at != nullptr) at_ = at;
  }
  void At(std::string_view point) const {
    if (!at_.empty() && at_ == point) (void)::raise(SIGKILL);  // never returns
  }
  void AtBatch(std::size_t n) const {
    if (!at_.empty() && at_ == "batch:" + std::to_string(n)) (void)::raise(SIGKILL);
  }

 private:
  std::string at_;
};

std::size_t BatchSize() {
  // NOLINTNEXTLINE(concurrency-mt-unsafe): read once, before any thread
  const char* env = std::getenv("ESCROW_CTL_ROTATE_BATCH");
  if (env == nullptr) return kDefaultBatch;
  const long n = std::strtol(env, nullptr, 10);
  return n > 0 && n <= 100000 ? static_cast<std::size_t>(n) : kDefaultBatch;
}

std::string FormatDuration(double seconds) {
  const long s = std::lround(seconds);
  std::ostringstream out;
  if (s >= 3600) out << s / 3600 << "h";
  if (s >= 60) out << (s / 60) % 60 << "m";
  out << s % 60 << "s";
  return out.str();
}

// Progress on stderr: a redrawn bar with rate and ETA on a terminal, plain lines otherwise
// (every 10% or 5 seconds), so that logs of a scheduled run stay readable.
class Progress {
 public:
  explicit Progress(std::int64_t total) : total_(total), tty_(::isatty(STDERR_FILENO) == 1) {}
  Progress(const Progress&) = delete;  // one per rotation
  Progress& operator=(const Progress&) = delete;
  Progress(Progress&&) = delete;
  Progress& operator=(Progress&&) = delete;
  ~Progress() = default;

  // Progress output is best effort: a failed write to stderr is not worth stopping a rotation,
  // so the results of fprintf and fflush are ignored.
  void Update(std::int64_t done, bool final = false) {
    total_ = std::max(total_, done);
    const auto now = Clock::now();
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    const double rate = elapsed > 0 ? static_cast<double>(done) / elapsed : 0;
    const double eta = rate > 0 ? static_cast<double>(total_ - done) / rate : 0;
    const int percent = total_ > 0 ? static_cast<int>(100 * done / total_) : 100;
    if (tty_) {
      if (!final && now - last_ < std::chrono::milliseconds(100)) return;
      constexpr int kWidth = 30;
      const int filled = percent * kWidth / 100;
      (void)std::fprintf(stderr,
                         "\rre-encrypting [%s%s] %3d%% %lld/%lld  %.0f records/s  ETA %s   ",
                         std::string(static_cast<std::size_t>(filled), '#').c_str(),
                         std::string(static_cast<std::size_t>(kWidth - filled), ' ').c_str(),
                         percent, static_cast<long long>(done), static_cast<long long>(total_),
                         rate, FormatDuration(eta).c_str());
      if (final) (void)std::fprintf(stderr, "\n");
    } else {
      if (!final && percent < last_percent_ + 10 && now - last_ < std::chrono::seconds(5)) return;
      (void)std::fprintf(stderr,
                         "re-encrypting: %lld/%lld records (%d%%), %.0f records/s, ETA %s\n",
                         static_cast<long long>(done), static_cast<long long>(total_), percent,
                         rate, FormatDuration(eta).c_str());
      last_percent_ = percent;
    }
    (void)std::fflush(stderr);
    last_ = now;
  }

 private:
  std::int64_t total_;
  const bool tty_;
  const Clock::time_point start_ = Clock::now();
  Clock::time_point last_{};
  int last_percent_ = -10;
};

struct Resealed {
  std::string device_id;
  std::uint32_t version = 0;
  hsm::Sealed sealed;
};

// Decrypts `row` under `from` and encrypts it under `to`, both inside the HSM, with the
// associated data of vault/associated_data.h for each master-key version. The plaintext lives
// only in the SecretBytes of this function.
Result<hsm::Sealed> Reseal(hsm::KeyService& keys, const storage::KeyVersionRow& row,
                           std::uint32_t from, std::uint32_t to) {
  ESCROW_ASSIGN_OR_RETURN(const Bytes old_aad, vault::AadForRow(row, from));
  const hsm::Sealed old_sealed{row.iv, row.ciphertext, row.tag};
  ESCROW_ASSIGN_OR_RETURN(SecretBytes plain, keys.Decrypt(from, old_sealed, old_aad));
  ESCROW_ASSIGN_OR_RETURN(const Bytes new_aad, vault::AadForRow(row, to));
  return keys.Encrypt(to, plain.RevealSecret(), new_aad);
}

struct RotationStats {
  std::int64_t replaced = 0;
  std::int64_t skipped = 0;  // changed concurrently; picked up again by the next listing
  std::size_t batches = 0;
};

// What one committed batch did.
struct BatchCount {
  std::int64_t replaced = 0;
  std::int64_t skipped = 0;
};

// Replaces one batch's rows in one transaction; rows whose sealing changed meanwhile are
// skipped (never overwrite a concurrent change).
Result<BatchCount> CommitBatch(storage::Store& store, const std::vector<Resealed>& resealed,
                               std::uint32_t from, std::uint32_t to) {
  BatchCount count;
  Status written = store.Write([&](storage::WriteTxn& txn) -> Status {
    count = {};
    for (const Resealed& r : resealed) {
      Status s = txn.ReplaceSealed(r.device_id, r.version, from, to, r.sealed.iv,
                                   r.sealed.ciphertext, r.sealed.tag);
      if (s.code() == Code::kNotFound) {
        ++count.skipped;
        continue;
      }
      ESCROW_RETURN_IF_ERROR(s);
      ++count.replaced;
    }
    return Status::Ok();
  });
  if (!written.ok()) return written;
  return count;
}

// Re-encrypts every record under `from` into `to`. kDataLoss names a record that fails its
// integrity check (the rotation stops there and can be resumed once it is dealt with).
//
// A pass walks the rows under `from` page by page with a cursor. While one batch commits on a
// second thread, the HSM re-encrypts the next: the HSM lane and the disk work at the same
// time. Batches commit in order, one at a time. Passes repeat until one finds no row under
// `from` (a row skipped because it changed meanwhile is looked at again).
Status ReencryptVersion(CtlVault& v, std::uint32_t from, std::uint32_t to, std::size_t batch,
                        const CrashPoints& crash, Progress& progress, RotationStats& stats) {
  std::future<Result<BatchCount>> committing;
  // Waits for the batch in flight and counts it; the crash point follows its commit.
  auto settle = [&]() -> Status {
    if (!committing.valid()) return Status::Ok();
    Result<BatchCount> count = committing.get();
    if (!count.ok()) return count.status();
    stats.replaced += count->replaced;
    stats.skipped += count->skipped;
    ++stats.batches;
    progress.Update(stats.replaced);
    crash.AtBatch(stats.batches);
    return Status::Ok();
  };
  for (;;) {
    std::optional<storage::KeyVersionKey> after;
    bool found = false;
    for (;;) {
      Result<std::vector<storage::KeyVersionRow>> rows =
          v.store->ListSealedUnder(from, batch, after);
      if (!rows.ok()) {
        (void)settle();
        return rows.status();
      }
      if (rows->empty()) break;
      found = true;
      after = storage::KeyVersionKey{rows->back().device_id, rows->back().version};
      std::vector<Resealed> resealed;
      resealed.reserve(rows->size());
      for (const storage::KeyVersionRow& row : *rows) {
        Result<hsm::Sealed> sealed = Reseal(*v.keys, row, from, to);
        if (!sealed.ok()) {
          ESCROW_RETURN_IF_ERROR(settle());
          const std::string which = "device " + row.device_id + " version " +
                                    std::to_string(row.version) + " (master key v" +
                                    std::to_string(from) + ")";
          if (sealed.status().code() == Code::kDataLoss) {
            boost::json::object detail{{"device_id", row.device_id},
                                       {"version", row.version},
                                       {"master_key_version", from}};
            (void)AuditCeremony(*v.audit, "ceremony.master_key.rotate_integrity_error",
                                boost::json::serialize(detail), {}, "error");
            return Status::DataLoss("record of " + which +
                                    " failed its integrity check; rotation stopped (it resumes "
                                    "when run again once the record is dealt with)");
          }
          return sealed.status().WithContext("re-encrypting " + which);
        }
        resealed.push_back({row.device_id, row.version, std::move(*sealed)});
      }
      ESCROW_RETURN_IF_ERROR(settle());
      committing = std::async(std::launch::async,
                              [&store = *v.store, from, to, resealed = std::move(resealed)] {
                                return CommitBatch(store, resealed, from, to);
                              });
    }
    ESCROW_RETURN_IF_ERROR(settle());
    if (!found) return Status::Ok();
  }
}

// The old versions that still seal records (every version but `target` with a count > 0).
Result<std::vector<std::pair<std::uint32_t, std::int64_t>>> OldVersions(storage::Store& store,
                                                                        std::uint32_t target) {
  ESCROW_ASSIGN_OR_RETURN(auto counts, store.CountByMasterKey());
  std::vector<std::pair<std::uint32_t, std::int64_t>> old;
  for (const auto& [version, n] : counts) {
    if (version != target && n > 0) old.emplace_back(version, n);
  }
  return old;
}

// Steps 1-3: the target version (recorded, generated or found, synced, probed, active).
Result<std::uint32_t> PrepareTarget(CtlVault& v, const CrashPoints& crash, std::ostream& out) {
  ESCROW_ASSIGN_OR_RETURN(
      const std::uint32_t active,
      vault::ReadMetaVersion(*v.store, vault::MetaKey::kActiveMasterKeyVersion));
  ESCROW_ASSIGN_OR_RETURN(
      std::optional<std::uint32_t> target,
      vault::ReadOptionalMetaVersion(*v.store, vault::MetaKey::kRotationTarget));
  Result<hsm::KeyInfo> active_key = v.keys->FindKey(hsm::KeyRole::kMaster, active);
  if (!active_key.ok()) return active_key.status().WithContext("the active master key");
  if (target) {
    out << "resuming the rotation to escrow-master-v" << *target << "\n";
  } else {
    ESCROW_ASSIGN_OR_RETURN(std::vector<hsm::KeyInfo> all, v.keys->ListKeys());
    std::uint32_t next = active;
    for (const hsm::KeyInfo& k : all) {
      if (k.role == hsm::KeyRole::kMaster) next = std::max(next, k.version);
    }
    ++next;
    const std::string text = std::to_string(next);
    boost::json::object detail{{"from", active}, {"to", next}};
    ESCROW_RETURN_IF_ERROR(AuditCeremony(
        *v.audit, "ceremony.master_key.rotate_begin", boost::json::serialize(detail),
        [&text](storage::WriteTxn& txn) { return txn.SetMeta("rotation_target", text); }));
    target = next;
    crash.At("target");
  }

  Result<hsm::KeyInfo> key = v.keys->FindKey(hsm::KeyRole::kMaster, *target);
  if (key.ok()) {
    // Found after a crash: it may never have reached the disk.
    ESCROW_RETURN_IF_ERROR(hsm::SyncSoftHsmTokenDir(v.keys->token().serial));
  } else if (key.status().code() == Code::kNotFound) {
    key = v.keys->GenerateKey(hsm::KeyRole::kMaster, *target, active_key->extractable);
    if (!key.ok())
      return key.status().WithContext("generating escrow-master-v" + std::to_string(*target));
  } else {
    return key.status();
  }
  crash.At("keygen");
  ESCROW_RETURN_IF_ERROR(v.keys->Probe(*target).WithContext("probing the new master key"));

  if (active != *target) {
    const std::string text = std::to_string(*target);
    boost::json::object detail{{"version", *target},
                               {"label", key->label},
                               {"check_value", key->check_value},
                               {"previous", active}};
    ESCROW_RETURN_IF_ERROR(AuditCeremony(*v.audit, "ceremony.master_key.activate",
                                         boost::json::serialize(detail),
                                         [&text](storage::WriteTxn& txn) {
                                           return txn.SetMeta("active_master_key_version", text);
                                         }));
    crash.At("activate");
  }
  out << "active master key: " << key->label << " (check value " << key->check_value << ")\n";
  return *target;
}

// --retire-old: destroys every other master-key version that no record uses.
Status RetireOld(CtlVault& v, std::uint32_t target, std::ostream& out) {
  ESCROW_ASSIGN_OR_RETURN(std::vector<hsm::KeyInfo> all, v.keys->ListKeys());
  for (const hsm::KeyInfo& key : all) {
    if (key.role != hsm::KeyRole::kMaster || key.version == target) continue;
    ESCROW_ASSIGN_OR_RETURN(auto old, OldVersions(*v.store, target));
    const auto used =
        std::find_if(old.begin(), old.end(), [&](const auto& p) { return p.first == key.version; });
    if (used != old.end()) {
      out << "kept " << key.label << ": " << used->second << " records still use it\n";
      continue;
    }
    std::cerr << "vaultctl: warning: destroying " << key.label
              << ": database backups taken before this rotation hold records sealed under it "
                 "and become unreadable\n";
    boost::json::object detail{
        {"label", key.label}, {"version", key.version}, {"check_value", key.check_value}};
    ESCROW_RETURN_IF_ERROR(v.keys->DestroyKey(hsm::KeyRole::kMaster, key.version));
    ESCROW_RETURN_IF_ERROR(
        AuditCeremony(*v.audit, "ceremony.master_key.retire", boost::json::serialize(detail)));
    out << "destroyed " << key.label << "\n";
  }
  return Status::Ok();
}

Result<std::string> Rotate(const vault::VaultConfig& config, bool retire_old) {
  const CrashPoints crash;
  const std::size_t batch = BatchSize();
  ESCROW_ASSIGN_OR_RETURN(CtlVault v, OpenCtlVault(config, true));
  std::ostringstream out;
  ESCROW_ASSIGN_OR_RETURN(const std::uint32_t target, PrepareTarget(v, crash, out));
  std::cerr << out.str();
  out.str("");

  const auto start = Clock::now();
  RotationStats stats;
  ESCROW_ASSIGN_OR_RETURN(auto old, OldVersions(*v.store, target));
  std::int64_t total = 0;
  for (const auto& [version, n] : old) total += n;
  Progress progress(total);
  std::vector<std::uint32_t> from_versions;
  // Records stored under an old key by a writer that raced the switch are picked up by the
  // next pass; the loop ends only when no old version seals anything.
  while (!old.empty()) {
    for (const auto& [version, n] : old) {
      from_versions.push_back(version);
      ESCROW_RETURN_IF_ERROR(ReencryptVersion(v, version, target, batch, crash, progress, stats));
    }
    ESCROW_ASSIGN_OR_RETURN(old, OldVersions(*v.store, target));
  }
  progress.Update(stats.replaced, true);
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::sort(from_versions.begin(), from_versions.end());
  from_versions.erase(std::unique(from_versions.begin(), from_versions.end()), from_versions.end());

  crash.At("complete");
  boost::json::array from_json(from_versions.begin(), from_versions.end());
  boost::json::object detail{
      {"to", target}, {"from", from_json}, {"records", stats.replaced}, {"seconds", seconds}};
  ESCROW_RETURN_IF_ERROR(
      AuditCeremony(*v.audit, "ceremony.master_key.rotate_complete", boost::json::serialize(detail),
                    [](storage::WriteTxn& txn) { return txn.SetMeta("rotation_target", ""); }));

  out << "master key rotated to escrow-master-v" << target << "\n"
      << "records re-encrypted: " << stats.replaced << " in " << std::fixed;
  out.precision(1);
  out << seconds << " s";
  if (seconds > 0 && stats.replaced > 0) {
    out.precision(0);
    out << " (" << static_cast<double>(stats.replaced) / seconds << " records/s)";
  }
  out << "\n";
  if (retire_old) ESCROW_RETURN_IF_ERROR(RetireOld(v, target, out));
  ESCROW_ASSIGN_OR_RETURN(auto counts, v.store->CountByMasterKey());
  out << "records per master key version:";
  if (counts.empty()) out << " none";
  for (const auto& [version, n] : counts) out << " v" << version << "=" << n;
  out << "\n";
  return out.str();
}

}  // namespace

void AddRotateCommand(CLI::App& master_key, CtlRunner& run) {
  struct Args {
    std::string config;
    bool retire_old = false;
    bool yes = false;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = master_key.add_subcommand("rotate", "Rotate the master key (online, resumable)");
  cmd->add_option("--config", args->config, "vault.conf")->required();
  cmd->add_flag("--retire-old", args->retire_old,
                "Destroy old master-key versions that no record uses (needs --yes)");
  cmd->add_flag("--yes", args->yes, "Confirm --retire-old");
  cmd->callback([args, &run] {
    run = [args]() -> int {
      if (args->retire_old && !args->yes) {
        return CtlUsage(
            "master-key rotate --retire-old destroys old master keys: database backups taken "
            "before the rotation become unreadable. Add --yes to confirm");
      }
      if (args->yes && !args->retire_old) return CtlUsage("--yes goes with --retire-old");
      CtlPrepareSecrets();
      Result<vault::VaultConfig> config = LoadCtlConfig(args->config);
      if (!config.ok()) return CtlFail(config.status(), "master-key rotate");
      return CtlPrint(Rotate(*config, args->retire_old), "master-key rotate");
    };
  });
}

}  // namespace escrow::tools
