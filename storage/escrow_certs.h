#pragma once

// Apple MDM escrow's certificates (API.md, "Apple MDM escrow, opened inside the HSM"), kept
// with their state (migration 8). storage/ holds public certificates only: the keys are in the
// HSM. vault/ decides which certificate is current and which envelopes it accepts.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/bytes.h"
#include "base/result.h"

namespace escrow::storage {

// The escrow CA's self-signed certificate, one per escrow-ca-v<version>.
struct EscrowCaRow {
  std::uint32_t version = 0;  // escrow-ca-v<version>
  std::string serial;         // 32 lowercase hex digits
  std::int64_t not_before = 0;  // unix seconds
  std::int64_t not_after = 0;
  std::string sha256;  // 64 lowercase hex digits, of `der`
  Bytes der;
};

enum class EscrowCertKind { kFleet, kDevice };
// current: the fleet certificate handed out now (one at most); active: an older fleet
// certificate, or a device certificate, whose key still opens envelopes; retired: refused.
enum class EscrowCertState { kCurrent, kActive, kRetired };

struct EscrowCertRow {
  std::string serial;  // 32 lowercase hex digits; the primary key
  std::uint32_t key_version = 0;  // escrow-cms-v<key_version>
  std::uint32_t ca_version = 0;   // issued by escrow-ca-v<ca_version>
  EscrowCertKind kind = EscrowCertKind::kFleet;
  std::optional<std::string> device_id;  // set exactly for device certificates
  EscrowCertState state = EscrowCertState::kActive;
  std::int64_t not_before = 0;
  std::int64_t not_after = 0;
  std::string sha256;
  Bytes der;
};

// Read inside one transaction (txn.h gives the errors every method may also return).
// Not thread-safe: it belongs to its transaction.
class EscrowCertReader {
 public:
  virtual ~EscrowCertReader() = default;
  // The CA certificate of escrow-ca-v<version>; nullopt if none.
  virtual Result<std::optional<EscrowCaRow>> GetCa(std::uint32_t version) = 0;
  // The CA certificate of the highest version; nullopt before the first.
  virtual Result<std::optional<EscrowCaRow>> NewestCa() = 0;
  // One certificate by serial (any kind and state); nullopt if none.
  virtual Result<std::optional<EscrowCertRow>> Get(std::string_view serial) = 0;
  // The current fleet certificate; nullopt if none is current.
  virtual Result<std::optional<EscrowCertRow>> Current() = 0;
  // Every fleet certificate, by key version then serial.
  virtual Result<std::vector<EscrowCertRow>> ListFleet() = 0;
  // The device's certificate of escrow-cms-v<key_version> that is not retired; nullopt if none.
  virtual Result<std::optional<EscrowCertRow>> ForDevice(std::string_view device_id,
                                                         std::uint32_t key_version) = 0;
  // The highest escrow-cms key version any certificate names; 0 if none.
  virtual Result<std::uint32_t> LatestKeyVersion() = 0;
  // The device an accepted CMS envelope was stored for, by SHA-256 of its recipient's
  // encrypted key (migration 10, the replay record); nullopt if none.
  virtual Result<std::optional<std::string>> EnvelopeDevice(
      std::span<const std::uint8_t> digest) = 0;

 protected:
  // Copied or moved only as a concrete store, never sliced through this interface.
  EscrowCertReader() = default;
  EscrowCertReader(const EscrowCertReader&) = default;
  EscrowCertReader& operator=(const EscrowCertReader&) = default;
  EscrowCertReader(EscrowCertReader&&) = default;
  EscrowCertReader& operator=(EscrowCertReader&&) = default;
};

// The certificates inside a write transaction; its reads see the transaction's own writes.
class EscrowCertWriter : public EscrowCertReader {
 public:
  // kAlreadyExists if the version or serial exists; kInvalidArgument if a field breaks the
  // schema (serial or sha256 not lowercase hex of their length, not_after <= not_before).
  virtual Status PutCa(const EscrowCaRow& row) = 0;
  // Inserts a certificate in state active or retired (MakeCurrent makes one current).
  // kAlreadyExists for a known serial; kFailedPrecondition if the CA version or the device
  // does not exist; kInvalidArgument for a field that breaks the schema, a device ID on a
  // fleet certificate or none on a device certificate, or state current.
  virtual Status Insert(const EscrowCertRow& row) = 0;
  // Makes a fleet certificate current; the one current before becomes active. kNotFound if
  // no such certificate; kFailedPrecondition if it is a device certificate or retired.
  virtual Status MakeCurrent(std::string_view serial) = 0;
  // Retires a fleet certificate and every device certificate of its escrow key (the key no
  // longer opens envelopes). kNotFound if no such certificate; kFailedPrecondition if it is
  // the current one, or a device certificate. Retiring a retired one is OK (no change).
  virtual Status Retire(std::string_view serial) = 0;
  // Records an accepted envelope's digest for its device. kInvalidArgument unless the digest
  // is 32 bytes; kAlreadyExists for a known digest; kFailedPrecondition for an unknown device.
  virtual Status RecordEnvelope(std::span<const std::uint8_t> digest, std::string_view device_id,
                                std::int64_t stored_ms) = 0;
};

// The names of the enums, stored and shown in the API ("fleet", "device"; "current", "active", "retired"), and back
// (nullopt for a text that is not ours).
std::string_view EscrowCertKindName(EscrowCertKind kind);
std::string_view EscrowCertStateName(EscrowCertState state);
std::optional<EscrowCertKind> ParseEscrowCertKind(std::string_view text);
std::optional<EscrowCertState> ParseEscrowCertState(std::string_view text);

}  // namespace escrow::storage
