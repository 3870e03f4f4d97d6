#pragma once

#include "storage/escrow_certs.h"
#include "storage/sqlite_txn_context.h"

namespace escrow::storage {

// The escrow_cas and escrow_certificates tables (migration 8) in one SQLite transaction
// (private to storage/). A read transaction hands it out as an EscrowCertReader only. Not
// thread-safe: it belongs to its transaction.
class SqliteEscrowCerts final : public EscrowCertWriter {
 public:
  explicit SqliteEscrowCerts(SqliteTxnContext& ctx) : ctx_(ctx) {}

  Result<std::optional<EscrowCaRow>> GetCa(std::uint32_t version) override;
  Result<std::optional<EscrowCaRow>> NewestCa() override;
  Result<std::optional<EscrowCertRow>> Get(std::string_view serial) override;
  Result<std::optional<EscrowCertRow>> Current() override;
  Result<std::vector<EscrowCertRow>> ListFleet() override;
  Result<std::optional<EscrowCertRow>> ForDevice(std::string_view device_id,
                                                 std::uint32_t key_version) override;
  Result<std::uint32_t> LatestKeyVersion() override;
  Result<std::optional<std::string>> EnvelopeDevice(
      std::span<const std::uint8_t> digest) override;
  Status PutCa(const EscrowCaRow& row) override;
  Status Insert(const EscrowCertRow& row) override;
  Status MakeCurrent(std::string_view serial) override;
  Status Retire(std::string_view serial) override;
  Status RecordEnvelope(std::span<const std::uint8_t> digest, std::string_view device_id,
                        std::int64_t stored_ms) override;

 private:
  SqliteTxnContext& ctx_;
};

}  // namespace escrow::storage
