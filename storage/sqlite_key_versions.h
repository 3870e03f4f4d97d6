#pragma once

#include "storage/key_versions.h"
#include "storage/sqlite_txn_context.h"

namespace escrow::storage {

// The key_versions table in one SQLite transaction (private to storage/). A read transaction
// hands it out as a KeyVersionReader only. Not thread-safe: it belongs to its transaction.
class SqliteKeyVersions final : public KeyVersionWriter {
 public:
  explicit SqliteKeyVersions(SqliteTxnContext& ctx) : ctx_(ctx) {}

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
  Status SetState(std::string_view device_id, std::uint32_t version, VersionState state) override;
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
  SqliteTxnContext& ctx_;
};

}  // namespace escrow::storage
