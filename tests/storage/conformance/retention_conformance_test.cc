// Retention (destroyed key versions) and the releases listing behind GET .../accesses, on
// every backend.
#include <catch2/catch.hpp>

#include "tests/storage/conformance/backends.h"

namespace escrow::storage {
namespace {

using testing::Backends;
using testing::BackendStore;
using testing::CountByMasterKey;
using testing::GetKeyVersion;
using testing::ListKeyVersions;
using testing::ListSealedUnder;
using testing::MakeAudit;
using testing::MakeDevice;
using testing::MakeKeyVersion;
using testing::MustWrite;

template <class Backend>
struct RetentionFixture : BackendStore<Backend> {
  RetentionFixture() {
    MustWrite(*this->owned_store, [](WriteTxn& txn) {
      ESCROW_RETURN_IF_ERROR(txn.devices().Upsert(MakeDevice("dev-1")));
      for (std::uint32_t v = 1; v <= 3; ++v) {
        KeyVersionRow row = MakeKeyVersion("dev-1", v);
        row.fingerprint = Bytes(32, static_cast<std::uint8_t>(0xF0 + v));
        row.fingerprint_key_version = 1;
        row.state = v < 3 ? VersionState::kSuperseded : VersionState::kActive;
        row.burned = v == 1;
        ESCROW_RETURN_IF_ERROR(txn.versions().Insert(row));
      }
      return Status::Ok();
    });
  }
  KeyVersionRow Get(std::uint32_t version) {
    auto row = GetKeyVersion(*this->owned_store, "dev-1", version);
    INFO(row.status().ToString());
    REQUIRE(row.ok());
    REQUIRE(row->has_value());
    return **row;
  }
};

TEMPLATE_LIST_TEST_CASE_METHOD(RetentionFixture,
                               "Store destroys a superseded version - sealed fields erased, row "
                               "and fingerprint kept",
                               "[storage][conformance][retention]", Backends) {
  Store* store = this->owned_store.get();
  MustWrite(*store, [](WriteTxn& txn) { return txn.versions().Destroy("dev-1", 1); });
  const KeyVersionRow gone = this->Get(1);
  CHECK(gone.state == VersionState::kDestroyed);
  CHECK(gone.ciphertext.empty());
  CHECK(gone.iv == Bytes(12, 0));
  CHECK(gone.tag == Bytes(16, 0));
  CHECK(gone.master_key_version == 0u);
  REQUIRE(gone.fingerprint.has_value());
  CHECK(*gone.fingerprint == Bytes(32, 0xF1));
  CHECK(gone.burned);
  CHECK(gone.owner == "alice");
  // The others are untouched, and the row is still listed (with its number used).
  CHECK(this->Get(2).ciphertext == MakeKeyVersion("dev-1", 2).ciphertext);
  auto all = ListKeyVersions(*store, "dev-1");
  REQUIRE(all.ok());
  CHECK(all->size() == 3);
  // Nothing sealed: master-key rotation passes it by and does not count it.
  auto sealed = ListSealedUnder(*store, 1, 10, std::nullopt);
  REQUIRE(sealed.ok());
  CHECK(sealed->size() == 2);
  auto counts = CountByMasterKey(*store);
  REQUIRE(counts.ok());
  REQUIRE(counts->size() == 1);
  CHECK((*counts)[0] == std::make_pair(std::uint32_t{1}, std::int64_t{2}));
}

TEMPLATE_LIST_TEST_CASE_METHOD(RetentionFixture, "Store destroys only superseded versions, once",
                               "[storage][conformance][retention]", Backends) {
  Store* store = this->owned_store.get();
  SECTION("the active version is refused") {
    CHECK(store->Write([](WriteTxn& txn) { return txn.versions().Destroy("dev-1", 3); }).code() ==
          Code::kNotFound);
    CHECK(this->Get(3).state == VersionState::kActive);
  }
  SECTION("a destroyed version is not destroyed twice") {
    MustWrite(*store, [](WriteTxn& txn) { return txn.versions().Destroy("dev-1", 2); });
    CHECK(store->Write([](WriteTxn& txn) { return txn.versions().Destroy("dev-1", 2); }).code() ==
          Code::kNotFound);
  }
  SECTION("an absent version is refused") {
    CHECK(store->Write([](WriteTxn& txn) { return txn.versions().Destroy("dev-1", 9); }).code() ==
          Code::kNotFound);
    CHECK(store->Write([](WriteTxn& txn) { return txn.versions().Destroy("dev-9", 1); }).code() ==
          Code::kNotFound);
  }
  SECTION("a refused destroy rolls back with its transaction") {
    CHECK_FALSE(store
                    ->Write([](WriteTxn& txn) {
                      ESCROW_RETURN_IF_ERROR(txn.versions().Destroy("dev-1", 1));
                      return txn.versions().Destroy("dev-1", 3);
                    })
                    .ok());
    CHECK(this->Get(1).state == VersionState::kSuperseded);
    CHECK(this->Get(1).ciphertext == MakeKeyVersion("dev-1", 1).ciphertext);
  }
}

std::vector<std::uint64_t> Seqs(const std::vector<AuditRow>& rows) {
  std::vector<std::uint64_t> seqs;
  for (const AuditRow& row : rows) seqs.push_back(row.seq);
  return seqs;
}

TEMPLATE_LIST_TEST_CASE_METHOD(BackendStore,
                               "Store lists a device's releases newest first, a page at a time",
                               "[storage][conformance][retention]", Backends) {
  Store* store = this->owned_store.get();
  // 1..12: every third a release of dev-1 by each release action, the rest other actions,
  // another device's releases, or refused releases.
  MustWrite(*store, [](WriteTxn& txn) {
    for (std::uint64_t seq = 1; seq <= 12; ++seq) {
      AuditRow row = MakeAudit(seq, "dev-1");
      switch (seq % 6) {
        case 0:
          row.action = "key.retrieve";
          break;
        case 1:
          row.action = "key.store";
          break;
        case 2:
          row.action = "key.retrieve";
          row.device_id = "dev-2";
          break;
        case 3:
          row.action = "key.retrieve_older";
          break;
        case 4:
          row.action = "key.retrieve";
          row.outcome = "denied";
          break;
        default:
          row.action = "key.rotation_command";
          break;
      }
      ESCROW_RETURN_IF_ERROR(txn.audit().Append(row));
    }
    return Status::Ok();
  });
  auto list = [&](std::string_view device, std::optional<std::uint64_t> before, std::size_t limit) {
    auto rows = ReadValue(
        *store, [&](ReadTxn& txn) { return txn.audit().ListReleases(device, before, limit); });
    INFO(rows.status().ToString());
    REQUIRE(rows.ok());
    return Seqs(*rows);
  };
  CHECK(list("dev-1", std::nullopt, 100) == std::vector<std::uint64_t>{12, 11, 9, 6, 5, 3});
  CHECK(list("dev-1", std::nullopt, 2) == std::vector<std::uint64_t>{12, 11});
  CHECK(list("dev-1", 11, 2) == std::vector<std::uint64_t>{9, 6});
  CHECK(list("dev-1", 6, 10) == std::vector<std::uint64_t>{5, 3});
  CHECK(list("dev-1", 3, 10).empty());
  CHECK(list("dev-1", std::uint64_t{1} << 63, 1) == std::vector<std::uint64_t>{12});
  CHECK(list("dev-2", std::nullopt, 100) == std::vector<std::uint64_t>{8, 2});
  CHECK(list("dev-3", std::nullopt, 100).empty());
}

}  // namespace
}  // namespace escrow::storage
