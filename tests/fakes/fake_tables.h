#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>

#include "storage/txn.h"

namespace escrow::testing {

// Everything an in-memory store holds. Copied whole for a write transaction and for each
// savepoint: a fake for tests, where clarity beats speed.
struct FakeState {
  std::map<std::string, storage::DeviceRow, std::less<>> devices;
  std::map<std::pair<std::string, std::uint32_t>, storage::KeyVersionRow> versions;
  std::map<std::uint64_t, storage::AuditRow> audit;
  std::map<std::string, std::multiset<std::int64_t>, std::less<>> quota_events;
  std::map<std::string, std::string, std::less<>> meta;
  std::map<std::string, storage::DeviceStateRow, std::less<>> states;
  std::map<std::uint32_t, storage::EscrowCaRow> escrow_cas;
  std::map<std::string, storage::EscrowCertRow, std::less<>> escrow_certs;
  std::map<Bytes, std::string> cms_envelopes;  // digest -> device id
  std::map<std::uint64_t, storage::AccessRequestRow> access_requests;  // by seq
  std::uint64_t access_request_seq = 0;  // the last seq handed out
  std::map<std::uint64_t, storage::EventRow> events;  // by id
  std::map<std::string, std::uint64_t, std::less<>> notifier_cursors;
  std::map<std::uint64_t, storage::AuditCheckpointRow> audit_checkpoints;   // by seq
  std::map<std::uint32_t, storage::AuditSigningKeyRow> audit_signing_keys;  // by version
};

// The narrow stores over one FakeState, with the Status semantics SQLite gives them (the
// conformance suite holds both to it). A read transaction hands them out as readers only.
// Not thread-safe: they belong to their transaction.

class FakeDevices final : public storage::DeviceWriter {
 public:
  explicit FakeDevices(FakeState& state) : state_(state) {}
  Result<std::optional<storage::DeviceRow>> Get(std::string_view id) override;
  Result<std::vector<storage::DeviceRow>> ListByOwner(std::string_view owner,
                                                      std::optional<std::string_view> after,
                                                      std::size_t limit) override;
  Result<std::vector<storage::DeviceRow>> ListBySerial(std::string_view serial,
                                                       std::optional<std::string_view> after,
                                                       std::size_t limit) override;
  Result<std::vector<storage::DeviceRow>> ListByKeyId(std::string_view key_id, bool prefix,
                                                      std::optional<std::string_view> owner,
                                                      std::optional<std::string_view> after,
                                                      std::size_t limit) override;
  Result<std::vector<storage::DeviceRow>> ListAll(std::size_t limit) override;
  Result<std::vector<storage::DeviceRow>> ListRotationOverdue(std::int64_t since_ms,
                                                              std::optional<std::string_view> after,
                                                              std::size_t limit) override;
  Result<std::int64_t> CountRotationOverdue(std::int64_t since_ms) override;
  Result<std::vector<storage::DeviceRow>> ListOverdueUnnoted(std::int64_t since_ms,
                                                             std::size_t limit) override;
  Status Upsert(const storage::DeviceRow& row) override;
  Status SetRotationPending(std::string_view device_id, bool pending,
                            std::int64_t now_ms) override;
  Status SetCheckin(std::string_view device_id, std::int64_t when_ms) override;
  Status NoteRotationOverdue(std::string_view device_id, std::int64_t requested_ms) override;

 private:
  FakeState& state_;
};

class FakeKeyVersions final : public storage::KeyVersionWriter {
 public:
  explicit FakeKeyVersions(FakeState& state) : state_(state) {}
  Result<std::optional<storage::KeyVersionRow>> Get(std::string_view device_id,
                                                    std::uint32_t version) override;
  Result<std::vector<storage::KeyVersionRow>> List(std::string_view device_id) override;
  Result<std::optional<storage::KeyVersionRow>> Current(const storage::DeviceRow& device) override;
  Result<std::uint32_t> LatestNumber(std::string_view device_id) override;
  Result<std::vector<storage::KeyVersionRow>> ListBurned(std::string_view device_id) override;
  Result<std::vector<storage::KeyVersionRow>> ListSealedUnder(
      std::uint32_t master_key_version, std::size_t limit,
      const std::optional<storage::KeyVersionKey>& after) override;
  Result<std::vector<storage::KeyVersionRow>> ListUnfingerprinted(
      std::size_t limit, const std::optional<storage::KeyVersionKey>& after) override;
  Result<std::vector<std::pair<std::uint32_t, std::int64_t>>> CountByMasterKey() override;
  Status Insert(const storage::KeyVersionRow& row) override;
  Status SetState(std::string_view device_id, std::uint32_t version,
                  storage::VersionState state) override;
  Status SetBurned(std::string_view device_id, std::uint32_t version) override;
  Status SupersedeActive(std::string_view device_id) override;
  Status BurnActive(std::string_view device_id) override;
  Status SetFingerprint(std::string_view device_id, std::uint32_t version, const Bytes& fingerprint,
                        std::uint32_t key_version) override;
  Status SetVerified(std::string_view device_id, std::uint32_t version,
                     std::optional<std::int64_t> verified_ms) override;
  Status ReplaceSealed(std::string_view device_id, std::uint32_t version,
                       std::uint32_t expected_old_master_version, std::uint32_t new_master_version,
                       const Bytes& iv, const Bytes& ciphertext, const Bytes& tag) override;
  Status Destroy(std::string_view device_id, std::uint32_t version) override;

 private:
  storage::KeyVersionRow* Find(std::string_view device_id, std::uint32_t version);

  FakeState& state_;
};

class FakeAuditRecords final : public storage::AuditWriter {
 public:
  explicit FakeAuditRecords(FakeState& state) : state_(state) {}
  Result<std::vector<storage::AuditRow>> List(std::uint64_t after, std::size_t limit,
                                              std::optional<std::string_view> device_id) override;
  Result<std::optional<storage::AuditRow>> Last() override;
  Result<std::optional<storage::AuditRow>> Get(std::uint64_t seq) override;
  Result<std::optional<std::uint64_t>> NewestStateChange(std::string_view device_id) override;
  Result<std::vector<storage::AuditRow>> ListReleases(std::string_view device_id,
                                                      std::optional<std::uint64_t> before,
                                                      std::size_t limit) override;
  Status Append(const storage::AuditRow& row) override;

 private:
  FakeState& state_;
};

class FakeLimits final : public storage::LimitWriter {
 public:
  explicit FakeLimits(FakeState& state) : state_(state) {}
  Result<storage::QuotaWindow> GetQuotaWindow(std::string_view principal,
                                              std::int64_t since_ms) override;
  Result<storage::QuotaWindow> AddQuotaEvent(std::string_view principal, std::int64_t at_ms,
                                             std::int64_t since_ms) override;

 private:
  FakeState& state_;
};

class FakeMetaValues final : public storage::MetaWriter {
 public:
  explicit FakeMetaValues(FakeState& state) : state_(state) {}
  Result<std::optional<std::string>> Get(std::string_view key) override;
  Status Set(std::string_view key, std::string_view value) override;

 private:
  FakeState& state_;
};

class FakeDeviceStates final : public storage::DeviceStateWriter {
 public:
  explicit FakeDeviceStates(FakeState& state) : state_(state) {}
  Result<std::optional<storage::DeviceStateRow>> Get(std::string_view device_id) override;
  Result<std::vector<storage::DeviceStateRow>> List(std::size_t limit,
                                                    std::optional<std::string_view> after) override;
  Status Put(const storage::DeviceStateRow& row) override;

 private:
  FakeState& state_;
};

class FakeEscrowCerts final : public storage::EscrowCertWriter {
 public:
  explicit FakeEscrowCerts(FakeState& state) : state_(state) {}
  Result<std::optional<storage::EscrowCaRow>> GetCa(std::uint32_t version) override;
  Result<std::optional<storage::EscrowCaRow>> NewestCa() override;
  Result<std::optional<storage::EscrowCertRow>> Get(std::string_view serial) override;
  Result<std::optional<storage::EscrowCertRow>> Current() override;
  Result<std::vector<storage::EscrowCertRow>> ListFleet() override;
  Result<std::optional<storage::EscrowCertRow>> ForDevice(std::string_view device_id,
                                                          std::uint32_t key_version) override;
  Result<std::uint32_t> LatestKeyVersion() override;
  Result<std::optional<std::string>> EnvelopeDevice(
      std::span<const std::uint8_t> digest) override;
  Status PutCa(const storage::EscrowCaRow& row) override;
  Status Insert(const storage::EscrowCertRow& row) override;
  Status MakeCurrent(std::string_view serial) override;
  Status Retire(std::string_view serial) override;
  Status RecordEnvelope(std::span<const std::uint8_t> digest, std::string_view device_id,
                        std::int64_t stored_ms) override;

 private:
  FakeState& state_;
};

class FakeAccessRequests final : public storage::AccessRequestWriter {
 public:
  explicit FakeAccessRequests(FakeState& state) : state_(state) {}
  Result<std::optional<storage::AccessRequestRow>> Get(std::string_view id) override;
  Result<std::vector<storage::AccessRequestRow>> List(
      std::optional<storage::AccessRequestState> state, std::optional<std::string_view> requester,
      std::int64_t now_ms, std::uint64_t after, std::size_t limit) override;
  Result<std::uint64_t> Insert(const storage::AccessRequestRow& row) override;
  Result<bool> Decide(std::string_view id, const storage::AccessDecision& decision) override;
  Result<bool> Use(const storage::AccessRequestRow& approved, std::int64_t now_ms) override;

 private:
  storage::AccessRequestRow* Find(std::string_view id);

  FakeState& state_;
};

class FakeEvents final : public storage::EventWriter {
 public:
  explicit FakeEvents(FakeState& state) : state_(state) {}
  Result<std::vector<storage::EventRow>> List(std::uint64_t after, std::size_t limit) override;
  Result<std::optional<std::uint64_t>> Cursor(std::string_view client) override;
  Result<std::optional<std::uint64_t>> OldestCursor() override;
  Status Insert(const storage::EventRow& row) override;
  Result<std::size_t> DeleteBefore(std::int64_t before_ms, std::size_t limit) override;
  Result<bool> AdvanceCursor(std::string_view client, std::uint64_t after) override;

 private:
  FakeState& state_;
};

class FakeAuditCheckpoints final : public storage::AuditCheckpointWriter {
 public:
  explicit FakeAuditCheckpoints(FakeState& state) : state_(state) {}
  Result<std::vector<storage::AuditCheckpointRow>> List(std::uint64_t after,
                                                        std::size_t limit) override;
  Result<std::vector<storage::AuditSigningKeyRow>> SigningKeys() override;
  Status Append(const storage::AuditCheckpointRow& row) override;
  Status AddSigningKey(const storage::AuditSigningKeyRow& row) override;

 private:
  FakeState& state_;
};

// All of them over one state.
struct FakeTables {
  explicit FakeTables(FakeState& state)
      : devices(state),
        versions(state),
        audit(state),
        limits(state),
        meta(state),
        states(state),
        escrow_certs(state),
        access_requests(state),
        events(state),
        audit_checkpoints(state) {}
  FakeDevices devices;
  FakeKeyVersions versions;
  FakeAuditRecords audit;
  FakeLimits limits;
  FakeMetaValues meta;
  FakeDeviceStates states;
  FakeEscrowCerts escrow_certs;
  FakeAccessRequests access_requests;
  FakeEvents events;
  FakeAuditCheckpoints audit_checkpoints;
};

}  // namespace escrow::testing
