#pragma once

#include "storage/access_requests.h"
#include "storage/audit_checkpoints.h"
#include "storage/audit_records.h"
#include "storage/device_states.h"
#include "storage/devices.h"
#include "storage/escrow_certs.h"
#include "storage/events.h"
#include "storage/key_versions.h"
#include "storage/limits.h"
#include "storage/meta_values.h"
#include "storage/pg_txn_context.h"

namespace escrow::storage {

// The narrow stores of txn.h on one PostgreSQL transaction (private to storage/), each a thin
// class over its table's statements (in its own pg_<table>.cc). A read transaction hands them
// out as readers only. Not thread-safe: they belong to their transaction.

class PgDevices final : public DeviceWriter {
 public:
  explicit PgDevices(PgTxnContext& ctx) : ctx_(ctx) {}
  Result<std::optional<DeviceRow>> Get(std::string_view id) override;
  Result<std::vector<DeviceRow>> ListByOwner(std::string_view owner,
                                             std::optional<std::string_view> after,
                                             std::size_t limit) override;
  Result<std::vector<DeviceRow>> ListBySerial(std::string_view serial,
                                              std::optional<std::string_view> after,
                                              std::size_t limit) override;
  Result<std::vector<DeviceRow>> ListByKeyId(std::string_view key_id, bool prefix,
                                             std::optional<std::string_view> owner,
                                             std::optional<std::string_view> after,
                                             std::size_t limit) override;
  Result<std::vector<DeviceRow>> ListAll(std::size_t limit) override;
  Result<std::vector<DeviceRow>> ListRotationOverdue(std::int64_t since_ms,
                                                     std::optional<std::string_view> after,
                                                     std::size_t limit) override;
  Result<std::int64_t> CountRotationOverdue(std::int64_t since_ms) override;
  Result<std::vector<DeviceRow>> ListOverdueUnnoted(std::int64_t since_ms,
                                                    std::size_t limit) override;
  Status Upsert(const DeviceRow& row) override;
  Status SetRotationPending(std::string_view device_id, bool pending,
                            std::int64_t now_ms) override;
  Status SetCheckin(std::string_view device_id, std::int64_t when_ms) override;
  Status NoteRotationOverdue(std::string_view device_id, std::int64_t requested_ms) override;

 private:
  PgTxnContext& ctx_;
};

class PgKeyVersions final : public KeyVersionWriter {
 public:
  explicit PgKeyVersions(PgTxnContext& ctx) : ctx_(ctx) {}
  Result<std::optional<KeyVersionRow>> Get(std::string_view device_id,
                                           std::uint32_t version) override;
  Result<std::vector<KeyVersionRow>> List(std::string_view device_id) override;
  Result<std::optional<KeyVersionRow>> Current(const DeviceRow& device) override;
  Result<std::uint32_t> LatestNumber(std::string_view device_id) override;
  Result<std::vector<KeyVersionRow>> ListBurned(std::string_view device_id) override;
  Result<std::vector<KeyVersionRow>> ListSealedUnder(
      std::uint32_t master_key_version, std::size_t limit,
      const std::optional<KeyVersionKey>& after) override;
  Result<std::vector<KeyVersionRow>> ListUnfingerprinted(
      std::size_t limit, const std::optional<KeyVersionKey>& after) override;
  Result<std::vector<std::pair<std::uint32_t, std::int64_t>>> CountByMasterKey() override;
  Status Insert(const KeyVersionRow& row) override;
  Status SetState(std::string_view device_id, std::uint32_t version,
                  VersionState state) override;
  Status SetBurned(std::string_view device_id, std::uint32_t version) override;
  Status SupersedeActive(std::string_view device_id) override;
  Status BurnActive(std::string_view device_id) override;
  Status SetFingerprint(std::string_view device_id, std::uint32_t version,
                        const Bytes& fingerprint, std::uint32_t key_version) override;
  Status SetVerified(std::string_view device_id, std::uint32_t version,
                     std::optional<std::int64_t> verified_ms) override;
  Status ReplaceSealed(std::string_view device_id, std::uint32_t version,
                       std::uint32_t expected_old_master_version,
                       std::uint32_t new_master_version, const Bytes& iv,
                       const Bytes& ciphertext, const Bytes& tag) override;
  Status Destroy(std::string_view device_id, std::uint32_t version) override;

 private:
  PgTxnContext& ctx_;
};

class PgAuditRecords final : public AuditWriter {
 public:
  explicit PgAuditRecords(PgTxnContext& ctx) : ctx_(ctx) {}
  Result<std::vector<AuditRow>> List(std::uint64_t after, std::size_t limit,
                                     std::optional<std::string_view> device_id) override;
  Result<std::optional<AuditRow>> Last() override;
  Result<std::optional<AuditRow>> Get(std::uint64_t seq) override;
  Result<std::optional<std::uint64_t>> NewestStateChange(std::string_view device_id) override;
  Result<std::vector<AuditRow>> ListReleases(std::string_view device_id,
                                             std::optional<std::uint64_t> before,
                                             std::size_t limit) override;
  Status Append(const AuditRow& row) override;

 private:
  PgTxnContext& ctx_;
};

class PgLimits final : public LimitWriter {
 public:
  explicit PgLimits(PgTxnContext& ctx) : ctx_(ctx) {}
  Result<QuotaWindow> GetQuotaWindow(std::string_view principal, std::int64_t since_ms) override;
  Result<QuotaWindow> AddQuotaEvent(std::string_view principal, std::int64_t at_ms,
                                    std::int64_t since_ms) override;

 private:
  PgTxnContext& ctx_;
};

class PgMetaValues final : public MetaWriter {
 public:
  explicit PgMetaValues(PgTxnContext& ctx) : ctx_(ctx) {}
  Result<std::optional<std::string>> Get(std::string_view key) override;
  Status Set(std::string_view key, std::string_view value) override;

 private:
  PgTxnContext& ctx_;
};

class PgDeviceStates final : public DeviceStateWriter {
 public:
  explicit PgDeviceStates(PgTxnContext& ctx) : ctx_(ctx) {}
  Result<std::optional<DeviceStateRow>> Get(std::string_view device_id) override;
  Result<std::vector<DeviceStateRow>> List(std::size_t limit,
                                           std::optional<std::string_view> after) override;
  Status Put(const DeviceStateRow& row) override;

 private:
  PgTxnContext& ctx_;
};

class PgEscrowCerts final : public EscrowCertWriter {
 public:
  explicit PgEscrowCerts(PgTxnContext& ctx) : ctx_(ctx) {}
  Result<std::optional<EscrowCaRow>> GetCa(std::uint32_t version) override;
  Result<std::optional<EscrowCaRow>> NewestCa() override;
  Result<std::optional<EscrowCertRow>> Get(std::string_view serial) override;
  Result<std::optional<EscrowCertRow>> Current() override;
  Result<std::vector<EscrowCertRow>> ListFleet() override;
  Result<std::optional<EscrowCertRow>> ForDevice(std::string_view device_id,
                                                 std::uint32_t key_version) override;
  Result<std::uint32_t> LatestKeyVersion() override;
  Result<std::optional<std::string>> EnvelopeDevice(std::span<const std::uint8_t> digest) override;
  Status PutCa(const EscrowCaRow& row) override;
  Status Insert(const EscrowCertRow& row) override;
  Status MakeCurrent(std::string_view serial) override;
  Status Retire(std::string_view serial) override;
  Status RecordEnvelope(std::span<const std::uint8_t> digest, std::string_view device_id,
                        std::int64_t stored_ms) override;

 private:
  PgTxnContext& ctx_;
};

class PgAccessRequests final : public AccessRequestWriter {
 public:
  explicit PgAccessRequests(PgTxnContext& ctx) : ctx_(ctx) {}
  Result<std::optional<AccessRequestRow>> Get(std::string_view id) override;
  Result<std::vector<AccessRequestRow>> List(std::optional<AccessRequestState> state,
                                             std::optional<std::string_view> requester,
                                             std::int64_t now_ms, std::uint64_t after,
                                             std::size_t limit) override;
  Result<std::uint64_t> Insert(const AccessRequestRow& row) override;
  Result<bool> Decide(std::string_view id, const AccessDecision& decision) override;
  Result<bool> Use(const AccessRequestRow& approved, std::int64_t now_ms) override;

 private:
  PgTxnContext& ctx_;
};

class PgEvents final : public EventWriter {
 public:
  explicit PgEvents(PgTxnContext& ctx) : ctx_(ctx) {}
  Result<std::vector<EventRow>> List(std::uint64_t after, std::size_t limit) override;
  Result<std::optional<std::uint64_t>> Cursor(std::string_view client) override;
  Result<std::optional<std::uint64_t>> OldestCursor() override;
  Status Insert(const EventRow& row) override;
  Result<std::size_t> DeleteBefore(std::int64_t before_ms, std::size_t limit) override;
  Result<bool> AdvanceCursor(std::string_view client, std::uint64_t after) override;

 private:
  PgTxnContext& ctx_;
};

class PgAuditCheckpoints final : public AuditCheckpointWriter {
 public:
  explicit PgAuditCheckpoints(PgTxnContext& ctx) : ctx_(ctx) {}
  Result<std::vector<AuditCheckpointRow>> List(std::uint64_t after, std::size_t limit) override;
  Result<std::vector<AuditSigningKeyRow>> SigningKeys() override;
  Status Append(const AuditCheckpointRow& row) override;
  Status AddSigningKey(const AuditSigningKeyRow& row) override;

 private:
  PgTxnContext& ctx_;
};

}  // namespace escrow::storage
