#include "vault/ops/rotate.h"

#include <algorithm>
#include <chrono>
#include <future>
#include <optional>
#include <sstream>
#include <utility>

#include <boost/json.hpp>

#include "hsm/token_sync.h"
#include "vault/associated_data.h"
#include "vault/meta.h"
#include "vault/ops/ceremony_record.h"
#include "vault/ops/rotate_progress.h"
#include "vault/types.h"

namespace escrow::ops {
namespace {

using SteadyClock = std::chrono::steady_clock;

void AtPoint(const RotateOptions& o, std::string_view point) {
  if (o.at_point) o.at_point(point);
}

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
      Status s = txn.versions().ReplaceSealed(r.device_id, r.version, from, to, r.sealed.iv,
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
Status ReencryptVersion(const Vault& v, std::uint32_t from, std::uint32_t to,
                        const RotateOptions& o, RotateProgress& progress, RotationStats& stats) {
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
    AtPoint(o, "batch:" + std::to_string(stats.batches));
    return Status::Ok();
  };
  for (;;) {
    std::optional<storage::KeyVersionKey> after;
    bool found = false;
    for (;;) {
      Result<std::vector<storage::KeyVersionRow>> rows =
          storage::ReadValue(v.store, [&](storage::ReadTxn& rtx) {
            return rtx.versions().ListSealedUnder(from, std::max<std::size_t>(o.batch, 1), after);
          });
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
        Result<hsm::Sealed> sealed = Reseal(v.keys, row, from, to);
        if (!sealed.ok()) {
          ESCROW_RETURN_IF_ERROR(settle());
          const std::string which = "device " + row.device_id + " version " +
                                    std::to_string(row.version) + " (master key v" +
                                    std::to_string(from) + ")";
          if (sealed.status().code() == Code::kDataLoss) {
            boost::json::object detail{{"device_id", row.device_id},
                                       {"version", row.version},
                                       {"master_key_version", from}};
            (void)RecordCeremony(v.audit, "ceremony.master_key.rotate_integrity_error",
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
                              [&store = v.store, from, to, resealed = std::move(resealed)] {
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
  ESCROW_ASSIGN_OR_RETURN(auto counts, storage::ReadValue(store, [&](storage::ReadTxn& rtx) { return rtx.versions().CountByMasterKey(); }));
  std::vector<std::pair<std::uint32_t, std::int64_t>> old;
  for (const auto& [version, n] : counts) {
    if (version != target && n > 0) old.emplace_back(version, n);
  }
  return old;
}

// Steps 1-3: the target version (recorded, generated or found, synced, probed, active).
Result<std::uint32_t> PrepareTarget(const Vault& v, const RotateOptions& o, std::ostream& out) {
  ESCROW_ASSIGN_OR_RETURN(const std::uint32_t active,
                          vault::ReadMetaVersion(v.store, vault::MetaKey::kActiveMasterKeyVersion));
  ESCROW_ASSIGN_OR_RETURN(std::optional<std::uint32_t> target,
                          vault::ReadOptionalMetaVersion(v.store, vault::MetaKey::kRotationTarget));
  Result<hsm::KeyInfo> active_key = v.keys.FindKey(hsm::KeyRole::kMaster, active);
  if (!active_key.ok()) return active_key.status().WithContext("the active master key");
  if (target) {
    out << "resuming the rotation to escrow-master-v" << *target << "\n";
  } else {
    ESCROW_ASSIGN_OR_RETURN(std::vector<hsm::KeyInfo> all, v.keys.ListKeys());
    std::uint32_t next = active;
    for (const hsm::KeyInfo& k : all) {
      if (k.role == hsm::KeyRole::kMaster) next = std::max(next, k.version);
    }
    ++next;
    boost::json::object detail{{"from", active}, {"to", next}};
    ESCROW_RETURN_IF_ERROR(
        RecordCeremony(v.audit, "ceremony.master_key.rotate_begin", boost::json::serialize(detail),
                       [next](storage::WriteTxn& txn) {
                         return vault::WriteMetaVersion(txn, vault::MetaKey::kRotationTarget, next);
                       }));
    target = next;
    AtPoint(o, "target");
  }

  Result<hsm::KeyInfo> key = v.keys.FindKey(hsm::KeyRole::kMaster, *target);
  if (key.ok()) {
    // Found after a crash: it may never have reached the disk.
    ESCROW_RETURN_IF_ERROR(hsm::SyncSoftHsmTokenDir(v.keys.token().serial));
  } else if (key.status().code() == Code::kNotFound) {
    key = v.keys.GenerateKey(hsm::KeyRole::kMaster, *target, active_key->extractable);
    if (!key.ok())
      return key.status().WithContext("generating escrow-master-v" + std::to_string(*target));
  } else {
    return key.status();
  }
  AtPoint(o, "keygen");
  ESCROW_RETURN_IF_ERROR(v.keys.Probe(*target).WithContext("probing the new master key"));

  if (active != *target) {
    const std::uint32_t version = *target;
    boost::json::object detail{{"version", *target},
                               {"label", key->label},
                               {"check_value", key->check_value},
                               {"previous", active}};
    ESCROW_RETURN_IF_ERROR(RecordCeremony(
        v.audit, "ceremony.master_key.activate", boost::json::serialize(detail),
        [version](storage::WriteTxn& txn) {
          return vault::WriteMetaVersion(txn, vault::MetaKey::kActiveMasterKeyVersion, version);
        }));
    AtPoint(o, "activate");
  }
  out << "active master key: " << key->label << " (check value " << hsm::CheckValueText(*key)
      << ")\n";
  return *target;
}

// --retire-old: destroys every other master-key version that no record uses.
Status RetireOld(const Vault& v, const RotateOptions& o, std::uint32_t target, std::ostream& out,
                 RotateReport& report) {
  ESCROW_ASSIGN_OR_RETURN(std::vector<hsm::KeyInfo> all, v.keys.ListKeys());
  for (const hsm::KeyInfo& key : all) {
    if (key.role != hsm::KeyRole::kMaster || key.version == target) continue;
    ESCROW_ASSIGN_OR_RETURN(auto old, OldVersions(v.store, target));
    const auto used =
        std::find_if(old.begin(), old.end(), [&](const auto& p) { return p.first == key.version; });
    if (used != old.end()) {
      out << "kept " << key.label << ": " << used->second << " records still use it\n";
      continue;
    }
    if (o.notes != nullptr) {
      *o.notes << "vaultctl: warning: destroying " << key.label
               << ": database backups taken before this rotation hold records sealed under it "
                  "and become unreadable\n";
    }
    boost::json::object detail{
        {"label", key.label}, {"version", key.version}, {"check_value", key.check_value}};
    ESCROW_RETURN_IF_ERROR(v.keys.DestroyKey(hsm::KeyRole::kMaster, key.version));
    ESCROW_RETURN_IF_ERROR(
        RecordCeremony(v.audit, "ceremony.master_key.retire", boost::json::serialize(detail)));
    out << "destroyed " << key.label << "\n";
    report.retired.push_back(key.label);
  }
  return Status::Ok();
}

}  // namespace

Result<RotateReport> Rotate(const RotateOptions& o, const Vault& v) {
  RotateReport report;
  std::ostringstream out;
  ESCROW_ASSIGN_OR_RETURN(const std::uint32_t target, PrepareTarget(v, o, out));
  if (o.notes != nullptr) *o.notes << out.str() << std::flush;
  out.str("");
  report.target = target;

  const auto start = SteadyClock::now();
  RotationStats stats;
  ESCROW_ASSIGN_OR_RETURN(auto old, OldVersions(v.store, target));
  std::int64_t total = 0;
  for (const auto& [version, n] : old) total += n;
  RotateProgress progress(total, o.notes, o.notes_on_terminal);
  std::vector<std::uint32_t> from_versions;
  // Records stored under an old key by a writer that raced the switch are picked up by the
  // next pass; the loop ends only when no old version seals anything.
  while (!old.empty()) {
    for (const auto& [version, n] : old) {
      from_versions.push_back(version);
      ESCROW_RETURN_IF_ERROR(ReencryptVersion(v, version, target, o, progress, stats));
    }
    ESCROW_ASSIGN_OR_RETURN(old, OldVersions(v.store, target));
  }
  progress.Update(stats.replaced, true);
  const double seconds = std::chrono::duration<double>(SteadyClock::now() - start).count();
  std::sort(from_versions.begin(), from_versions.end());
  from_versions.erase(std::unique(from_versions.begin(), from_versions.end()), from_versions.end());

  AtPoint(o, "complete");
  boost::json::array from_json(from_versions.begin(), from_versions.end());
  boost::json::object detail{
      {"to", target}, {"from", from_json}, {"records", stats.replaced}, {"seconds", seconds}};
  ESCROW_RETURN_IF_ERROR(RecordCeremony(v.audit, "ceremony.master_key.rotate_complete",
                                        boost::json::serialize(detail), [](storage::WriteTxn& txn) {
                                          return vault::ClearMetaVersion(
                                              txn, vault::MetaKey::kRotationTarget);
                                        }));

  out << "master key rotated to escrow-master-v" << target << "\n"
      << "records re-encrypted: " << stats.replaced << " in " << std::fixed;
  out.precision(1);
  out << seconds << " s";
  if (seconds > 0 && stats.replaced > 0) {
    out.precision(0);
    out << " (" << static_cast<double>(stats.replaced) / seconds << " records/s)";
  }
  out << "\n";
  if (o.retire_old) ESCROW_RETURN_IF_ERROR(RetireOld(v, o, target, out, report));
  ESCROW_ASSIGN_OR_RETURN(report.counts, storage::ReadValue(v.store, [&](storage::ReadTxn& rtx) { return rtx.versions().CountByMasterKey(); }));
  out << "records per master key version:";
  if (report.counts.empty()) out << " none";
  for (const auto& [version, n] : report.counts) out << " v" << version << "=" << n;
  out << "\n";
  report.text = out.str();
  report.from_versions = std::move(from_versions);
  report.records = stats.replaced;
  return report;
}

}  // namespace escrow::ops
