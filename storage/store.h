#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/bytes.h"
#include "base/result.h"

namespace escrow::storage {

// Rows as stored. storage/ is untrusted: it holds ciphertext, hashes and metadata, never
// plaintext key material, and vault/ checks everything it reads back (AAD, chain, MACs).
// Times are Unix milliseconds.

struct DeviceRow {
  std::string id;
  std::string serial;
  std::string name;
  std::string platform;   // macos | windows | linux
  std::string ownership;  // corporate | personal
  std::string owner;
  bool encryption_enabled = false;
  bool rotation_pending = false;
  std::optional<std::int64_t> last_checkin_ms;
  std::int64_t created_ms = 0;
  std::int64_t updated_ms = 0;
};

struct KeyVersionRow {
  std::string device_id;
  std::uint32_t version = 0;  // 1, 2, 3, ... per device
  std::string kind;           // platform at storage: macos | windows | linux
  std::string owner;          // owner at storage
  std::string ownership;      // ownership at storage
  std::uint32_t master_key_version = 0;
  Bytes iv;
  Bytes ciphertext;
  Bytes tag;
  std::string state;  // active | superseded | destroyed
  std::int64_t stored_ms = 0;
  std::string stored_by;
  bool burned = false;  // released (or its owner changed): rotation must differ
};

// One key version's identity: where a listing in (device_id, version) order resumes.
struct KeyVersionKey {
  std::string device_id;
  std::uint32_t version = 0;
};

struct AuditRow {
  std::uint64_t seq = 0;  // 1, 2, 3, ... gap-free
  std::int64_t time_ms = 0;
  std::string actor;
  std::string role;
  std::string action;
  std::string device_id;
  std::string outcome;  // ok | denied | error
  std::string reason;
  std::string detail;
  Bytes hash;                // h_i, 32 bytes
  std::optional<Bytes> mac;  // HSM HMAC of h_i on the last record of a group
  std::uint32_t audit_key_version = 0;
};

// A principal's quota events (releases counted against a quota) after the start of a window.
struct QuotaWindow {
  std::int64_t count = 0;
  std::optional<std::int64_t> oldest_ms;  // the earliest event's time; none if count is 0
};

// Operations inside one write transaction (BEGIN IMMEDIATE ... COMMIT). Not thread-safe:
// used only by the thread running Store::Write.
// Every method may also return kUnavailable (busy, disk full, read-only, I/O) or kDataLoss
// (corrupt file); after such an error the transaction is spent: later calls repeat it and
// Store::Write rolls back even if the callback returns OK. Values that break the schema's
// checks (IV not 12 bytes, tag not 16, hash not 32, unknown state or ownership) are
// kInvalidArgument; a key version of an unknown device is kFailedPrecondition.
class WriteTxn {
 public:
  virtual ~WriteTxn() = default;
  // Insert or replace by id (created_ms kept on replace).
  virtual Status UpsertDevice(const DeviceRow& row) = 0;
  // kNotFound if the device does not exist. updated_ms is left as it is.
  virtual Status SetRotationPending(std::string_view device_id, bool pending) = 0;
  virtual Status SetCheckin(std::string_view device_id, std::int64_t when_ms) = 0;
  // kAlreadyExists if (device_id, version) exists.
  virtual Status InsertKeyVersion(const KeyVersionRow& row) = 0;
  // kNotFound if the version does not exist (both).
  virtual Status SetKeyVersionState(std::string_view device_id, std::uint32_t version,
                                    std::string_view state) = 0;
  virtual Status SetBurned(std::string_view device_id, std::uint32_t version) = 0;
  // Every active version of the device becomes superseded / burned; no error if none is.
  virtual Status SupersedeActiveKeyVersions(std::string_view device_id) = 0;
  virtual Status BurnActiveKeyVersions(std::string_view device_id) = 0;
  // Replaces the sealed fields of one version (master-key rotation). kNotFound if absent
  // or if its master_key_version is not `expected_old_master_version`.
  virtual Status ReplaceSealed(std::string_view device_id, std::uint32_t version,
                               std::uint32_t expected_old_master_version,
                               std::uint32_t new_master_version, const Bytes& iv,
                               const Bytes& ciphertext, const Bytes& tag) = 0;
  // kAlreadyExists if seq exists; kInvalidArgument unless seq is the last seq + 1 (the
  // sequence stays gap-free).
  virtual Status AppendAudit(const AuditRow& row) = 0;
  virtual Status SetMeta(std::string_view key, std::string_view value) = 0;
  // Reads a meta value inside the transaction (e.g. the active master-key version, which
  // every write that seals a record re-reads so that a rotation cannot race it).
  virtual Result<std::optional<std::string>> GetMeta(std::string_view key) = 0;
  // The newest audit record, read inside the transaction (the write lock is held: no other
  // process can append before this transaction ends).
  virtual Result<std::optional<AuditRow>> LastAudit() = 0;
  // Records a quota event of `principal` at `at_ms` and returns the principal's events after
  // `since_ms` (the start of the window), this one included. First deletes the principal's
  // events at or before `since_ms`: they have left the window, so the table keeps at most one
  // window of events per principal and each call deletes at most that many.
  virtual Result<QuotaWindow> AddQuotaEvent(std::string_view principal, std::int64_t at_ms,
                                            std::int64_t since_ms) = 0;
  // Runs `fn` inside a SAVEPOINT: its changes are kept if it returns OK and undone if not,
  // leaving the rest of the transaction intact. Its Status is returned.
  virtual Status Isolated(const std::function<Status(WriteTxn&)>& fn) = 0;

 protected:
  // Copied or moved only as a concrete transaction, never sliced through this interface.
  WriteTxn() = default;
  WriteTxn(const WriteTxn&) = default;
  WriteTxn& operator=(const WriteTxn&) = default;
  WriteTxn(WriteTxn&&) = default;
  WriteTxn& operator=(WriteTxn&&) = default;
};

struct StoreOptions {
  std::string path;
  bool create = false;  // create the file if missing
  int busy_timeout_ms = 5000;
  int read_connections = 4;
};

// The escrow and audit store on SQLite (WAL, synchronous=FULL, foreign keys, busy timeout,
// numbered migrations applied at open). Thread-safe: reads borrow a connection from a small
// pool; writes are serialised on one writer connection. A network database would be a second
// implementation of this interface.
class Store {
 public:
  virtual ~Store() = default;

  // kUnavailable: cannot open; kFailedPrecondition: schema newer than this code (the message
  // says so); kDataLoss: not a vault database or corrupt.
  static Result<std::unique_ptr<Store>> Open(const StoreOptions& options);

  virtual int schema_version() const = 0;

  virtual Result<std::optional<DeviceRow>> GetDevice(std::string_view id) = 0;
  virtual Result<std::vector<DeviceRow>> ListDevicesByOwner(std::string_view owner) = 0;
  virtual Result<std::vector<DeviceRow>> ListDevicesBySerial(std::string_view serial) = 0;
  virtual Result<std::vector<DeviceRow>> ListAllDevices(std::size_t limit) = 0;
  virtual Result<std::optional<KeyVersionRow>> GetKeyVersion(std::string_view device_id,
                                                             std::uint32_t version) = 0;
  // Oldest version first.
  virtual Result<std::vector<KeyVersionRow>> ListKeyVersions(std::string_view device_id) = 0;
  // The device's current version: its newest active one stored for its present platform,
  // owner and ownership (none after the owner changed until a new key is stored). The cost
  // does not grow with the device's superseded versions.
  virtual Result<std::optional<KeyVersionRow>> CurrentKeyVersion(const DeviceRow& device) = 0;
  // The highest version number the device has used (destroyed ones included), 0 if none.
  virtual Result<std::uint32_t> LatestKeyVersionNumber(std::string_view device_id) = 0;
  // The burned versions not destroyed, oldest first.
  virtual Result<std::vector<KeyVersionRow>> ListBurnedKeyVersions(std::string_view device_id) = 0;
  // Up to `limit` rows sealed under `master_key_version`, in (device_id, version) order; with
  // `after`, only the rows that come after that one (a cursor: the last row of a page).
  virtual Result<std::vector<KeyVersionRow>> ListSealedUnder(
      std::uint32_t master_key_version, std::size_t limit,
      const std::optional<KeyVersionKey>& after) = 0;
  // Number of key versions per master-key version.
  virtual Result<std::vector<std::pair<std::uint32_t, std::int64_t>>> CountByMasterKey() = 0;
  // The principal's quota events after `since_ms` (the start of the window).
  virtual Result<QuotaWindow> GetQuotaWindow(std::string_view principal, std::int64_t since_ms) = 0;
  virtual Result<std::optional<std::string>> GetMeta(std::string_view key) = 0;

  // Records with seq > after, optionally only those of one device, oldest first.
  virtual Result<std::vector<AuditRow>> ListAudit(std::uint64_t after, std::size_t limit,
                                                  std::optional<std::string_view> device_id) = 0;
  virtual Result<std::optional<AuditRow>> LastAudit() = 0;

  // Runs `fn` in one write transaction and commits if it returns OK (durably: synchronous=
  // FULL), else rolls back. kUnavailable if the database is busy, full or read-only; the
  // next Write reopens the connection, so writes work again once the cause is gone.
  // Reads made from inside `fn` do not see its uncommitted writes, and `fn` must not call
  // Write (kInternal) but may use WriteTxn::Isolated.
  virtual Status Write(const std::function<Status(WriteTxn&)>& fn) = 0;

  // A consistent online copy through SQLite's backup API, into a new file (0600, fsynced).
  // kAlreadyExists if `path` exists; kUnavailable on I/O errors.
  virtual Status BackupTo(const std::string& path) = 0;
  // PRAGMA integrity_check; kDataLoss naming the first problem.
  virtual Status IntegrityCheck() = 0;

 protected:
  // Copied or moved only as a concrete store, never sliced through this interface.
  Store() = default;
  Store(const Store&) = default;
  Store& operator=(const Store&) = default;
  Store(Store&&) = default;
  Store& operator=(Store&&) = default;
};

}  // namespace escrow::storage
