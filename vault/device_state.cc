#include "vault/device_state.h"

#include <algorithm>

#include <openssl/crypto.h>

#include "base/check.h"
#include "hsm/key_service.h"

namespace escrow::vault {
namespace {

constexpr std::size_t kFingerprint = 32;

Status Broken(std::string what) {
  return Status::DataLoss("device state record: " + std::move(what), "integrity_error");
}

std::span<const std::uint8_t> Nth(const Bytes& burned, std::size_t i) {
  return std::span<const std::uint8_t>(burned).subspan(i * kFingerprint, kFingerprint);
}

}  // namespace

Bytes StateMacInput(const storage::DeviceStateRow& row) {
  ESCROW_CHECK(row.device_id.size() < 65536 && row.burned.size() % kFingerprint == 0);
  constexpr std::string_view kDomain = "escrow-state";
  Bytes out;
  out.reserve(kDomain.size() + 1 + 2 + row.device_id.size() + 4 + 1 + 4 + row.burned.size() + 8 +
              row.audit_hash.size() + 4 + 1);
  Append(out, kDomain);
  // Format 1 for a record without a rotation command sent (every record MACed before the
  // command existed), format 2 with its flag at the end: the two never give the same input.
  AppendU8(out, row.rotation_command_sent ? 2 : 1);
  AppendU16Be(out, static_cast<std::uint16_t>(row.device_id.size()));
  Append(out, row.device_id);
  AppendU32Be(out, row.current_version);
  AppendU8(out, row.rotation_pending ? 1 : 0);
  AppendU32Be(out, static_cast<std::uint32_t>(row.burned.size() / kFingerprint));
  Append(out, row.burned);
  AppendU64Be(out, row.audit_seq);
  Append(out, row.audit_hash);
  AppendU32Be(out, row.state_key_version);
  if (row.rotation_command_sent) AppendU8(out, 1);
  return out;
}

bool IsBurned(const storage::DeviceStateRow& row, std::span<const std::uint8_t> fingerprint) {
  if (fingerprint.size() != kFingerprint) return false;
  bool found = false;
  // Every entry is compared, in constant time each: the answer is the only thing that leaks.
  for (std::size_t i = 0; i < row.burned.size() / kFingerprint; ++i) {
    found |= CRYPTO_memcmp(Nth(row.burned, i).data(), fingerprint.data(), kFingerprint) == 0;
  }
  return found;
}

void Burn(storage::DeviceStateRow& row, std::span<const std::uint8_t> fingerprint) {
  ESCROW_CHECK(fingerprint.size() == kFingerprint);
  if (IsBurned(row, fingerprint)) return;
  std::size_t at = 0;
  const std::size_t n = row.burned.size() / kFingerprint;
  while (at < n &&
         std::lexicographical_compare(Nth(row.burned, at).begin(), Nth(row.burned, at).end(),
                                      fingerprint.begin(), fingerprint.end())) {
    ++at;
  }
  row.burned.insert(row.burned.begin() + static_cast<std::ptrdiff_t>(at * kFingerprint),
                    fingerprint.begin(), fingerprint.end());
}

Status BurnVersions(storage::DeviceStateRow& row, std::span<const storage::KeyVersionRow> versions,
                    const std::function<bool(const storage::KeyVersionRow&)>& burns) {
  for (const storage::KeyVersionRow& v : versions) {
    if (!burns(v)) continue;
    if (!v.fingerprint) {
      return Status::DataLoss("version " + std::to_string(v.version) + " has no fingerprint",
                              "integrity_error");
    }
    Burn(row, *v.fingerprint);
  }
  return Status::Ok();
}

Result<StateEvidence> ReadStateEvidence(storage::DeviceStateReader& states,
                                        storage::AuditReader& audit, std::string_view device_id) {
  StateEvidence e;
  ESCROW_ASSIGN_OR_RETURN(e.state, states.Get(device_id));
  ESCROW_ASSIGN_OR_RETURN(e.newest_change, audit.NewestStateChange(device_id));
  if (e.state) {
    ESCROW_ASSIGN_OR_RETURN(e.anchor, audit.Get(e.state->audit_seq));
  }
  return e;
}

Status CheckStateEvidence(hsm::KeyService& keys, std::string_view device_id,
                          const StateEvidence& evidence) {
  if (!evidence.state) return Broken("missing");
  const storage::DeviceStateRow& state = *evidence.state;
  if (state.device_id != device_id || state.burned.size() % kFingerprint != 0 ||
      state.device_id.size() >= 65536) {
    return Broken("malformed");
  }
  Status mac =
      keys.Verify(hsm::KeyRole::kState, state.state_key_version, StateMacInput(state), state.mac);
  if (mac.code() == Code::kDataLoss || mac.code() == Code::kNotFound ||
      mac.code() == Code::kInvalidArgument) {
    return Broken("MAC does not verify");
  }
  ESCROW_RETURN_IF_ERROR(mac);
  if (!evidence.anchor || evidence.anchor->hash.size() != state.audit_hash.size() ||
      CRYPTO_memcmp(evidence.anchor->hash.data(), state.audit_hash.data(),
                    state.audit_hash.size()) != 0) {
    return Broken("its audit record " + std::to_string(state.audit_seq) + " is not in the trail");
  }
  if (evidence.newest_change && *evidence.newest_change > state.audit_seq) {
    return Broken("audit record " + std::to_string(*evidence.newest_change) +
                  " changed the device after it (record " + std::to_string(state.audit_seq) + ")");
  }
  return Status::Ok();
}

Status SealState(hsm::KeyService& keys, std::uint32_t state_key_version, std::uint64_t audit_seq,
                 std::span<const std::uint8_t> audit_hash, storage::DeviceStateRow& row) {
  row.audit_seq = audit_seq;
  row.audit_hash.assign(audit_hash.begin(), audit_hash.end());
  row.state_key_version = state_key_version;
  ESCROW_ASSIGN_OR_RETURN(const hsm::Mac mac,
                          keys.Sign(hsm::KeyRole::kState, state_key_version, StateMacInput(row)));
  row.mac.assign(mac.begin(), mac.end());
  return Status::Ok();
}

}  // namespace escrow::vault
