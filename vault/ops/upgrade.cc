#include "vault/ops/upgrade.h"

#include <limits>
#include <optional>
#include <sstream>
#include <utility>

#include <boost/json.hpp>

#include "storage/store.h"
#include "vault/associated_data.h"
#include "vault/device_state.h"
#include "vault/fingerprint.h"
#include "vault/meta.h"
#include "vault/ops/ceremony_record.h"
#include "vault/ops/escrow_cert.h"

namespace escrow::ops {
namespace {

constexpr std::size_t kPage = 500;

// The version the database names for `key`, or 1 for a vault that names none yet.
Result<std::uint32_t> VersionOr1(storage::Store& store, vault::MetaKey key) {
  Result<std::uint32_t> v = vault::ReadMetaVersion(store, key);
  if (!v.ok() && v.status().code() == Code::kNotFound) return 1u;
  return v;
}

// Finds the key, or generates it under the master key's extractability rule.
Status EnsureKey(hsm::KeyService& keys, hsm::KeyRole role, std::uint32_t version,
                 bool backup_capable, UpgradeReport& report) {
  Result<hsm::KeyInfo> found = keys.FindKey(role, version);
  if (found.ok()) return Status::Ok();
  if (found.status().code() != Code::kNotFound) return found.status();
  Result<hsm::KeyInfo> made = keys.GenerateKey(role, version, backup_capable);
  if (!made.ok()) return made.status().WithContext("generating the " + RoleName(role) + " key");
  report.created.push_back(std::move(*made));
  return Status::Ok();
}

// Fingerprints every version that has none, a page at a time (each page its own commit; a
// second run goes on where a stopped one ended).
Status FingerprintVersions(const Vault& v, std::uint32_t fp_version, UpgradeReport& report) {
  std::optional<storage::KeyVersionKey> after;
  while (true) {
    ESCROW_ASSIGN_OR_RETURN(
        std::vector<storage::KeyVersionRow> page,
        storage::ReadValue(v.store, [&](storage::ReadTxn& txn) {
          return txn.versions().ListUnfingerprinted(kPage, after);
        }));
    if (page.empty()) return Status::Ok();
    std::vector<Bytes> fingerprints;
    fingerprints.reserve(page.size());
    for (const storage::KeyVersionRow& row : page) {
      ESCROW_ASSIGN_OR_RETURN(const Bytes aad, vault::AadForRow(row));
      Result<SecretBytes> plain =
          v.keys.Decrypt(row.master_key_version, hsm::Sealed{row.iv, row.ciphertext, row.tag}, aad);
      if (!plain.ok()) {
        return plain.status().WithContext("opening " + row.device_id + " version " +
                                          std::to_string(row.version));
      }
      ESCROW_ASSIGN_OR_RETURN(Bytes fp, vault::Fingerprint(v.keys, fp_version, row.kind,
                                                           row.device_id, *plain));
      fingerprints.push_back(std::move(fp));
    }
    auto set_fingerprints = [&](storage::WriteTxn& txn) -> Status {
      for (std::size_t i = 0; i < page.size(); ++i) {
        ESCROW_RETURN_IF_ERROR(txn.versions().SetFingerprint(page[i].device_id, page[i].version,
                                                             fingerprints[i], fp_version));
      }
      return Status::Ok();
    };
    ESCROW_RETURN_IF_ERROR(v.audit.Commit(set_fingerprints, {}));
    report.fingerprinted += page.size();
    after = storage::KeyVersionKey{page.back().device_id, page.back().version};
  }
}

// The state record of a device that has none, from its rows: the current version, the
// pending flag, and as burned every version released (burned mark) or stored under another
// owner than the present one.
Result<std::vector<storage::DeviceStateRow>> MissingStates(storage::Store& store) {
  std::vector<storage::DeviceStateRow> out;
  Status s = store.Read([&](storage::ReadTxn& txn) -> Status {
    ESCROW_ASSIGN_OR_RETURN(std::vector<storage::DeviceRow> devices,
                            txn.devices().ListAll(std::numeric_limits<std::size_t>::max()));
    for (const storage::DeviceRow& device : devices) {
      ESCROW_ASSIGN_OR_RETURN(std::optional<storage::DeviceStateRow> has,
                              txn.states().Get(device.id));
      if (has) continue;
      storage::DeviceStateRow row;
      row.device_id = device.id;
      row.rotation_pending = device.rotation_pending;
      ESCROW_ASSIGN_OR_RETURN(std::optional<storage::KeyVersionRow> current,
                              txn.versions().Current(device));
      row.current_version = current ? current->version : 0;
      ESCROW_ASSIGN_OR_RETURN(std::vector<storage::KeyVersionRow> versions,
                              txn.versions().List(device.id));
      for (const storage::KeyVersionRow& v : versions) {
        if (!v.fingerprint) {
          return Status::DataLoss(device.id + " version " + std::to_string(v.version) +
                                  " has no fingerprint");
        }
        if (v.burned || v.owner != device.owner) vault::Burn(row, *v.fingerprint);
      }
      out.push_back(std::move(row));
    }
    return Status::Ok();
  });
  if (!s.ok()) return s;
  return out;
}

}  // namespace

Result<UpgradeReport> Upgrade(const Vault& v) {
  UpgradeReport report;
  ESCROW_ASSIGN_OR_RETURN(const std::uint32_t mkv,
                          vault::ReadMetaVersion(v.store, vault::MetaKey::kActiveMasterKeyVersion));
  ESCROW_ASSIGN_OR_RETURN(const hsm::KeyInfo master, v.keys.FindKey(hsm::KeyRole::kMaster, mkv));
  ESCROW_ASSIGN_OR_RETURN(report.fingerprint_key_version,
                          VersionOr1(v.store, vault::MetaKey::kFingerprintKeyVersion));
  ESCROW_ASSIGN_OR_RETURN(report.state_key_version,
                          VersionOr1(v.store, vault::MetaKey::kStateKeyVersion));
  ESCROW_RETURN_IF_ERROR(EnsureKey(v.keys, hsm::KeyRole::kFingerprint,
                                   report.fingerprint_key_version, master.extractable, report));
  ESCROW_RETURN_IF_ERROR(EnsureKey(v.keys, hsm::KeyRole::kState, report.state_key_version,
                                   master.extractable, report));
  ESCROW_RETURN_IF_ERROR(FingerprintVersions(v, report.fingerprint_key_version, report));
  ESCROW_ASSIGN_OR_RETURN(std::vector<storage::DeviceStateRow> states, MissingStates(v.store));
  report.states = states.size();

  // Apple MDM escrow: a vault without any escrow certificate gets the CA and a first one,
  // recorded in this ceremony's transaction.
  bool has_escrow = false;
  ESCROW_RETURN_IF_ERROR(v.store.Read([&](storage::ReadTxn& txn) -> Status {
    ESCROW_ASSIGN_OR_RETURN(const std::vector<storage::EscrowCertRow> fleet,
                            txn.escrow_certs().ListFleet());
    has_escrow = !fleet.empty();
    return Status::Ok();
  }));
  std::optional<PreparedEscrowCert> escrow;
  if (!has_escrow) {
    ESCROW_ASSIGN_OR_RETURN(PreparedEscrowCert prepared,
                            PrepareEscrowCert(EscrowCertOptions{}, v.keys, v.store));
    escrow = std::move(prepared);
    report.escrow_certificate = escrow->report;
  }

  const bool names_keys =
      vault::ReadMetaVersion(v.store, vault::MetaKey::kFingerprintKeyVersion).ok() &&
      vault::ReadMetaVersion(v.store, vault::MetaKey::kStateKeyVersion).ok();
  if (report.created.empty() && report.fingerprinted == 0 && states.empty() && names_keys &&
      !escrow) {
    report.head = v.audit.head();
    return report;  // nothing was missing: nothing to record
  }
  boost::json::object detail;
  boost::json::array created;
  for (const hsm::KeyInfo& k : report.created) created.emplace_back(k.label);
  detail["created"] = std::move(created);
  detail["fingerprinted"] = report.fingerprinted;
  detail["state_records"] = report.states;
  if (escrow) detail["escrow_certificate"] = boost::json::parse(escrow->detail);
  const std::uint32_t state_version = report.state_key_version;
  auto name_keys = [&](storage::WriteTxn& txn) -> Status {
    ESCROW_RETURN_IF_ERROR(vault::WriteMetaVersion(txn, vault::MetaKey::kFingerprintKeyVersion,
                                                   report.fingerprint_key_version));
    if (escrow) ESCROW_RETURN_IF_ERROR(RecordEscrowCert(txn, *escrow));
    return vault::WriteMetaVersion(txn, vault::MetaKey::kStateKeyVersion, state_version);
  };
  // The state records name the ceremony's own record: they go in with it.
  auto write_states = [&](storage::WriteTxn& txn, const vault::ChainTip& record) -> Status {
    for (storage::DeviceStateRow& row : states) {
      ESCROW_RETURN_IF_ERROR(vault::SealState(v.keys, state_version, record.seq, record.hash, row));
      ESCROW_RETURN_IF_ERROR(txn.states().Put(row));
    }
    return Status::Ok();
  };
  ESCROW_RETURN_IF_ERROR(RecordCeremony(v.audit, "ceremony.upgrade",
                                        boost::json::serialize(detail), name_keys, "ok",
                                        write_states));
  report.head = v.audit.head();
  return report;
}

std::string RenderUpgrade(const UpgradeReport& report) {
  std::ostringstream out;
  out << "upgrade\n";
  if (report.created.empty()) out << "  keys created: none (the token had them)\n";
  for (const hsm::KeyInfo& k : report.created) {
    out << "  key created: " << k.label << "  role " << RoleName(k.role) << "  check value "
        << hsm::CheckValueText(k) << "  "
        << (k.extractable ? "extractable only wrapped under a trusted key" : "never extractable")
        << "\n";
  }
  out << "  fingerprint key version: " << report.fingerprint_key_version << "\n"
      << "  state key version: " << report.state_key_version << "\n"
      << "  versions fingerprinted: " << report.fingerprinted << "\n"
      << "  device state records written: " << report.states << "\n";
  if (report.escrow_certificate) {
    const vault::IssuedCertificate& cert = report.escrow_certificate->certificate;
    out << "  escrow certificate created: serial " << cert.serial_hex << "  sha256 "
        << cert.sha256_hex << "\n";
  }
  out << "  audit head: " << report.head.seq << ":" << report.head.hash << "\n";
  return out.str();
}

}  // namespace escrow::ops
