#include "vault/meta.h"

#include <memory>
#include <string>

#include <catch2/catch.hpp>

#include "storage/store.h"
#include "tests/support/temp_dir.h"

namespace escrow::vault {
namespace {

constexpr MetaKey kActive = MetaKey::kActiveMasterKeyVersion;

TEST_CASE("Meta keys have their stored names", "[vault][meta]") {
  CHECK(MetaKeyName(MetaKey::kActiveMasterKeyVersion) == "active_master_key_version");
  CHECK(MetaKeyName(MetaKey::kAuditKeyVersion) == "audit_key_version");
  CHECK(MetaKeyName(MetaKey::kRotationTarget) == "rotation_target");
  CHECK(MetaKeyName(MetaKey::kLastBackup) == "last_backup");
}

TEST_CASE("ParseMetaVersion accepts 1..2^32-1 in canonical decimal", "[vault][meta]") {
  CHECK(*ParseMetaVersion(kActive, "1") == 1);
  CHECK(*ParseMetaVersion(kActive, "42") == 42);
  CHECK(*ParseMetaVersion(kActive, "999999999") == 999999999);
  CHECK(*ParseMetaVersion(kActive, "4294967295") == 4294967295u);
  for (const char* bad : {"", "0", "00", "01", "-1", "+1", " 1", "1 ", "1a", "0x10", "4294967296",
                          "10000000000", "99999999999999999999"}) {
    INFO(bad);
    Result<std::uint32_t> v = ParseMetaVersion(kActive, bad);
    REQUIRE_FALSE(v.ok());
    CHECK(v.status().code() == Code::kDataLoss);
    CHECK(v.status().message().find("active_master_key_version") != std::string::npos);
  }
}

TEST_CASE("ReadMetaVersion reads the store and a write transaction alike", "[vault][meta]") {
  testing::TempDir dir;
  storage::StoreOptions options;
  options.path = dir.str() + "/vault.db";
  options.create = true;
  Result<std::unique_ptr<storage::Store>> opened = storage::Store::Open(options);
  REQUIRE(opened.ok());
  storage::Store& store = **opened;

  CHECK(ReadMetaVersion(store, kActive).status().code() == Code::kNotFound);
  CHECK(ReadOptionalMetaVersion(store, MetaKey::kRotationTarget)->has_value() == false);

  REQUIRE(store
              .Write([](storage::WriteTxn& txn) -> Status {
                ESCROW_RETURN_IF_ERROR(txn.meta().Set("active_master_key_version", "7"));
                ESCROW_RETURN_IF_ERROR(txn.meta().Set("audit_key_version", "0"));
                return txn.meta().Set("rotation_target", "");
              })
              .ok());
  CHECK(*ReadMetaVersion(store, kActive) == 7);
  CHECK(ReadMetaVersion(store, MetaKey::kAuditKeyVersion).status().code() == Code::kDataLoss);
  CHECK(ReadOptionalMetaVersion(store, MetaKey::kRotationTarget)->has_value() == false);

  REQUIRE(store
              .Write([](storage::WriteTxn& txn) -> Status {
                Result<std::uint32_t> active =
                    ReadMetaVersion(txn.meta(), MetaKey::kActiveMasterKeyVersion);
                if (!active.ok() || *active != 7) return Status::Internal("txn read");
                if (ReadMetaVersion(txn.meta(), MetaKey::kAuditKeyVersion).status().code() !=
                    Code::kDataLoss) {
                  return Status::Internal("txn parse");
                }
                return txn.meta().Set("rotation_target", "8");
              })
              .ok());
  Result<std::optional<std::uint32_t>> target =
      ReadOptionalMetaVersion(store, MetaKey::kRotationTarget);
  REQUIRE(target.ok());
  CHECK(*target == std::optional<std::uint32_t>(8));

  REQUIRE(store.Write([](storage::WriteTxn& txn) { return txn.meta().Set("rotation_target", "x"); })
              .ok());
  CHECK(ReadOptionalMetaVersion(store, MetaKey::kRotationTarget).status().code() ==
        Code::kDataLoss);
}

TEST_CASE("Meta writers store what the readers parse back, under the rows' own names",
          "[vault][meta]") {
  testing::TempDir dir;
  storage::StoreOptions options;
  options.path = dir.str() + "/vault.db";
  options.create = true;
  Result<std::unique_ptr<storage::Store>> opened = storage::Store::Open(options);
  REQUIRE(opened.ok());
  storage::Store& store = **opened;

  REQUIRE(store
              .Write([](storage::WriteTxn& txn) -> Status {
                ESCROW_RETURN_IF_ERROR(WriteMetaVersion(txn, kActive, 4294967295U));
                ESCROW_RETURN_IF_ERROR(WriteMetaVersion(txn, MetaKey::kRotationTarget, 3));
                return WriteMetaText(txn, MetaKey::kLastBackup, R"({"path":"/b"})");
              })
              .ok());
  CHECK(*ReadMetaVersion(store, kActive) == 4294967295U);
  CHECK(*storage::ReadValue(store, [&](storage::ReadTxn& rtx) { return rtx.meta().Get("active_master_key_version"); }) == std::optional<std::string>("4294967295"));
  CHECK(*ReadOptionalMetaVersion(store, MetaKey::kRotationTarget) ==
        std::optional<std::uint32_t>(3));
  CHECK(*ReadMetaText(store, MetaKey::kLastBackup) ==
        std::optional<std::string>(R"({"path":"/b"})"));

  REQUIRE(store
              .Write([](storage::WriteTxn& txn) {
                return ClearMetaVersion(txn, MetaKey::kRotationTarget);
              })
              .ok());
  CHECK(*storage::ReadValue(store, [&](storage::ReadTxn& rtx) { return rtx.meta().Get("rotation_target"); }) == std::optional<std::string>(""));
  CHECK_FALSE(ReadOptionalMetaVersion(store, MetaKey::kRotationTarget)->has_value());
  CHECK_FALSE(ReadMetaText(store, MetaKey::kAuditKeyVersion)->has_value());
}

}  // namespace
}  // namespace escrow::vault
