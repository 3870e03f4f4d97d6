// FakeEscrowCerts (tests/fakes/fake_tables.h): migration 8's tables in memory, with the Status
// order SQLite gives (CHECK, then unique keys, then foreign keys).
#include <algorithm>

#include "tests/fakes/fake_tables.h"

namespace escrow::testing {
namespace {

bool LowerHex(std::string_view text, std::size_t size) {
  return text.size() == size && std::all_of(text.begin(), text.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

Status Check(std::string_view statement, bool ok) {
  if (ok) return Status::Ok();
  return Status::InvalidArgument(std::string(statement) + ": check");
}

}  // namespace

Result<std::optional<storage::EscrowCaRow>> FakeEscrowCerts::GetCa(std::uint32_t version) {
  auto it = state_.escrow_cas.find(version);
  if (it == state_.escrow_cas.end()) return std::optional<storage::EscrowCaRow>();
  return std::optional<storage::EscrowCaRow>(it->second);
}

Result<std::optional<storage::EscrowCaRow>> FakeEscrowCerts::NewestCa() {
  if (state_.escrow_cas.empty()) return std::optional<storage::EscrowCaRow>();
  return std::optional<storage::EscrowCaRow>(state_.escrow_cas.rbegin()->second);
}

Result<std::optional<storage::EscrowCertRow>> FakeEscrowCerts::Get(std::string_view serial) {
  auto it = state_.escrow_certs.find(serial);
  if (it == state_.escrow_certs.end()) return std::optional<storage::EscrowCertRow>();
  return std::optional<storage::EscrowCertRow>(it->second);
}

Result<std::optional<storage::EscrowCertRow>> FakeEscrowCerts::Current() {
  for (const auto& [serial, row] : state_.escrow_certs) {
    if (row.state == storage::EscrowCertState::kCurrent) {
      return std::optional<storage::EscrowCertRow>(row);
    }
  }
  return std::optional<storage::EscrowCertRow>();
}

Result<std::vector<storage::EscrowCertRow>> FakeEscrowCerts::ListFleet() {
  std::vector<storage::EscrowCertRow> rows;
  for (const auto& [serial, row] : state_.escrow_certs) {
    if (row.kind == storage::EscrowCertKind::kFleet) rows.push_back(row);
  }
  std::stable_sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
    return a.key_version < b.key_version;  // serials already in order within a version
  });
  return rows;
}

Result<std::optional<storage::EscrowCertRow>> FakeEscrowCerts::ForDevice(
    std::string_view device_id, std::uint32_t key_version) {
  for (const auto& [serial, row] : state_.escrow_certs) {
    if (row.device_id && *row.device_id == device_id && row.key_version == key_version &&
        row.state != storage::EscrowCertState::kRetired) {
      return std::optional<storage::EscrowCertRow>(row);
    }
  }
  return std::optional<storage::EscrowCertRow>();
}

Result<std::uint32_t> FakeEscrowCerts::LatestKeyVersion() {
  std::uint32_t latest = 0;
  for (const auto& [serial, row] : state_.escrow_certs) latest = std::max(latest, row.key_version);
  return latest;
}

Status FakeEscrowCerts::PutCa(const storage::EscrowCaRow& row) {
  constexpr std::string_view kStatement = "put escrow CA";
  ESCROW_RETURN_IF_ERROR(Check(kStatement, row.version != 0 && LowerHex(row.serial, 32) &&
                                               row.not_after > row.not_before &&
                                               LowerHex(row.sha256, 64) && !row.der.empty()));
  if (state_.escrow_cas.contains(row.version)) {
    return Status::AlreadyExists(std::string(kStatement) + ": primary key");
  }
  for (const auto& [version, ca] : state_.escrow_cas) {
    if (ca.serial == row.serial) return Status::AlreadyExists(std::string(kStatement) + ": unique");
  }
  state_.escrow_cas.emplace(row.version, row);
  return Status::Ok();
}

Status FakeEscrowCerts::Insert(const storage::EscrowCertRow& row) {
  constexpr std::string_view kStatement = "insert escrow certificate";
  if (row.state == storage::EscrowCertState::kCurrent) {
    return Status::InvalidArgument(std::string(kStatement) + ": state current (use MakeCurrent)");
  }
  const bool device = row.kind == storage::EscrowCertKind::kDevice;
  ESCROW_RETURN_IF_ERROR(Check(
      kStatement, LowerHex(row.serial, 32) && row.key_version != 0 &&
                      device == row.device_id.has_value() && row.not_after > row.not_before &&
                      LowerHex(row.sha256, 64) && !row.der.empty()));
  if (state_.escrow_certs.contains(row.serial)) {
    return Status::AlreadyExists(std::string(kStatement) + ": primary key");
  }
  if (!state_.escrow_cas.contains(row.ca_version) ||
      (row.device_id && !state_.devices.contains(*row.device_id))) {
    return Status::FailedPrecondition(std::string(kStatement) + ": foreign key");
  }
  state_.escrow_certs.emplace(row.serial, row);
  return Status::Ok();
}

Status FakeEscrowCerts::MakeCurrent(std::string_view serial) {
  auto it = state_.escrow_certs.find(serial);
  if (it == state_.escrow_certs.end()) {
    return Status::NotFound("escrow certificate " + std::string(serial) + " not found");
  }
  if (it->second.kind != storage::EscrowCertKind::kFleet ||
      it->second.state == storage::EscrowCertState::kRetired) {
    return Status::FailedPrecondition("only an unretired fleet certificate can be current");
  }
  for (auto& [s, row] : state_.escrow_certs) {
    if (row.state == storage::EscrowCertState::kCurrent) {
      row.state = storage::EscrowCertState::kActive;
    }
  }
  it->second.state = storage::EscrowCertState::kCurrent;
  return Status::Ok();
}

Status FakeEscrowCerts::Retire(std::string_view serial) {
  auto it = state_.escrow_certs.find(serial);
  if (it == state_.escrow_certs.end()) {
    return Status::NotFound("escrow certificate " + std::string(serial) + " not found");
  }
  if (it->second.kind != storage::EscrowCertKind::kFleet) {
    return Status::FailedPrecondition("retire a fleet certificate, not a device certificate");
  }
  const std::uint32_t key = it->second.key_version;
  for (const auto& [s, row] : state_.escrow_certs) {
    if (row.state == storage::EscrowCertState::kCurrent && row.key_version == key) {
      return Status::FailedPrecondition("the current escrow certificate cannot be retired");
    }
  }
  for (auto& [s, row] : state_.escrow_certs) {
    if (row.key_version == key) row.state = storage::EscrowCertState::kRetired;
  }
  return Status::Ok();
}

Result<std::optional<std::string>> FakeEscrowCerts::EnvelopeDevice(
    std::span<const std::uint8_t> digest) {
  auto it = state_.cms_envelopes.find(Bytes(digest.begin(), digest.end()));
  if (it == state_.cms_envelopes.end()) return std::optional<std::string>();
  return std::optional<std::string>(it->second);
}

Status FakeEscrowCerts::RecordEnvelope(std::span<const std::uint8_t> digest,
                                       std::string_view device_id, std::int64_t /*stored_ms*/) {
  constexpr std::string_view kStatement = "record cms envelope";
  ESCROW_RETURN_IF_ERROR(Check(kStatement, digest.size() == 32));
  Bytes key(digest.begin(), digest.end());
  if (state_.cms_envelopes.contains(key)) {
    return Status::AlreadyExists(std::string(kStatement) + ": primary key");
  }
  if (!state_.devices.contains(device_id)) {
    return Status::FailedPrecondition(std::string(kStatement) + ": foreign key");
  }
  state_.cms_envelopes.emplace(std::move(key), std::string(device_id));
  return Status::Ok();
}

}  // namespace escrow::testing
