#pragma once

// Private to vault/: the state shared by escrow_service*.cc.

#include <array>
#include <mutex>
#include <string>
#include <string_view>

#include "hsm/key_service.h"
#include "storage/store.h"
#include "vault/escrow_service.h"
#include "vault/health_monitor.h"

namespace escrow::vault {

struct EscrowService::Impl {
  Impl(hsm::KeyService& k, storage::Store& s, const Clock& c, EscrowOptions o)
      : keys(k),
        store(s),
        clock(c),
        pipeline(k, s, c, o.audit_key_version, o.audit_checkpoint, o.audit_batch_max),
        options(std::move(o)) {}

  hsm::KeyService& keys;
  storage::Store& store;
  const Clock& clock;
  // The only writer: every change and audit record of the service.
  CommitPipeline pipeline;
  const EscrowOptions options;
  // Operations on one device are serialised by a striped lock (one node; a multi-node
  // deployment relies on the transaction's own checks instead).
  std::array<std::mutex, 64> stripes;
  // Set by StartHealthMonitor; declared last, so that its thread stops first.
  std::unique_ptr<HealthMonitor> health;

  std::mutex& StripeFor(std::string_view device_id);

  // Audits a denial or failure and returns `status` (or kUnavailable if it cannot be audited:
  // fail closed).
  Status Deny(const Caller& caller, Action action, std::string_view device_id, Status status,
              std::string detail = {});
  AuditEvent Event(const Caller& caller, Action action, std::string_view device_id,
                   std::string outcome, std::string reason = {}, std::string detail = {}) const;
  // Audits a successful read-only operation.
  Status AuditOk(const Caller& caller, Action action, std::string_view device_id,
                 std::string detail = {});

  // Loads a device, or device_not_found.
  Result<storage::DeviceRow> LoadDevice(std::string_view id);
  // Loads a device and decides `action` on it for `caller`; every refusal is audited.
  Result<storage::DeviceRow> Authorize(const Caller& caller, Action action, std::string_view id);
  // The device as API.md shows it, from its row and its versions.
  Result<Device> ToDevice(const storage::DeviceRow& row);
  Result<std::uint32_t> ActiveMasterKeyVersion();
  // Decrypts one stored version under the associated data of its own row.
  Result<SecretBytes> Open(const storage::KeyVersionRow& row);
};

// Converts a row to the domain type; kDataLoss on a value the code does not know.
Result<Device> DeviceFromRow(const storage::DeviceRow& row);
Result<VersionState> ParseVersionState(std::string_view s);
// The policy subject of a device: its present owner and ownership.
Subject SubjectOf(const storage::DeviceRow& row);

}  // namespace escrow::vault
