// Signed audit checkpoints and their signing keys on every backend: a checkpoint names an audit
// record and a recorded signing key, once; the listing pages by seq; the bytes come back as
// written.
#include <catch2/catch.hpp>

#include "tests/storage/conformance/backends.h"

namespace escrow::storage {
namespace {

using testing::Backends;
using testing::BackendStore;
using testing::MakeAudit;
using testing::MustWrite;

AuditCheckpointRow MakeCheckpoint(std::uint64_t seq, std::uint32_t key_version) {
  AuditCheckpointRow row;
  row.seq = seq;
  row.hash = Bytes(32, static_cast<std::uint8_t>(seq));
  row.hash[0] = 0x00;  // a zero byte survives
  row.at_ms = 1'700'000'000'000 + static_cast<std::int64_t>(seq);
  row.key_version = key_version;
  row.signature = Bytes{0x30, 0x45, 0x02, 0x21, 0x00, 0xff, static_cast<std::uint8_t>(seq)};
  return row;
}

AuditSigningKeyRow MakeSigningKey(std::uint32_t version) {
  return AuditSigningKeyRow{version, Bytes{0x30, 0x59, 0x00, static_cast<std::uint8_t>(version)},
                            1'700'000'000'000};
}

template <class Backend>
struct CheckpointFixture : BackendStore<Backend> {
  CheckpointFixture() {
    MustWrite(*this->owned_store, [](WriteTxn& txn) -> Status {
      for (std::uint64_t seq = 1; seq <= 5; ++seq) {
        ESCROW_RETURN_IF_ERROR(txn.audit().Append(MakeAudit(seq)));
      }
      return Status::Ok();
    });
  }
  Status Write(const std::function<Status(AuditCheckpointWriter&)>& fn) {
    return this->owned_store->Write([&](WriteTxn& txn) { return fn(txn.audit_checkpoints()); });
  }
  std::vector<AuditCheckpointRow> List(std::uint64_t after, std::size_t limit) {
    Result<std::vector<AuditCheckpointRow>> rows = ReadValue(*this->owned_store, [&](ReadTxn& txn) {
      return txn.audit_checkpoints().List(after, limit);
    });
    REQUIRE(rows.ok());
    return *rows;
  }
  std::vector<AuditSigningKeyRow> Keys() {
    Result<std::vector<AuditSigningKeyRow>> rows = ReadValue(
        *this->owned_store, [&](ReadTxn& txn) { return txn.audit_checkpoints().SigningKeys(); });
    REQUIRE(rows.ok());
    return *rows;
  }
};

TEMPLATE_LIST_TEST_CASE_METHOD(CheckpointFixture,
                               "Signing keys are recorded once, with their public key",
                               "[storage][conformance][checkpoints]", Backends) {
  CHECK(this->Keys().empty());
  REQUIRE(this->Write([](AuditCheckpointWriter& c) { return c.AddSigningKey(MakeSigningKey(2)); })
              .ok());
  REQUIRE(this->Write([](AuditCheckpointWriter& c) { return c.AddSigningKey(MakeSigningKey(1)); })
              .ok());
  CHECK(this->Write([](AuditCheckpointWriter& c) { return c.AddSigningKey(MakeSigningKey(1)); })
            .code() == Code::kAlreadyExists);
  CHECK(this->Write([](AuditCheckpointWriter& c) { return c.AddSigningKey(MakeSigningKey(0)); })
            .code() == Code::kInvalidArgument);
  AuditSigningKeyRow empty = MakeSigningKey(3);
  empty.public_key.clear();
  CHECK(this->Write([&](AuditCheckpointWriter& c) { return c.AddSigningKey(empty); }).code() ==
        Code::kInvalidArgument);
  const std::vector<AuditSigningKeyRow> keys = this->Keys();
  REQUIRE(keys.size() == 2);
  CHECK(keys[0].version == 1u);
  CHECK(keys[1].version == 2u);
  CHECK(keys[1].public_key == MakeSigningKey(2).public_key);
  CHECK(keys[1].created_ms == 1'700'000'000'000);
}

TEMPLATE_LIST_TEST_CASE_METHOD(CheckpointFixture,
                               "A checkpoint names an audit record and a recorded key, once",
                               "[storage][conformance][checkpoints]", Backends) {
  REQUIRE(this->Write([](AuditCheckpointWriter& c) { return c.AddSigningKey(MakeSigningKey(1)); })
              .ok());
  REQUIRE(
      this->Write([](AuditCheckpointWriter& c) { return c.Append(MakeCheckpoint(2, 1)); }).ok());
  CHECK(
      this->Write([](AuditCheckpointWriter& c) { return c.Append(MakeCheckpoint(2, 1)); }).code() ==
      Code::kAlreadyExists);
  // No audit record 9; no signing key 7.
  CHECK(
      this->Write([](AuditCheckpointWriter& c) { return c.Append(MakeCheckpoint(9, 1)); }).code() ==
      Code::kFailedPrecondition);
  CHECK(
      this->Write([](AuditCheckpointWriter& c) { return c.Append(MakeCheckpoint(3, 7)); }).code() ==
      Code::kFailedPrecondition);
  CHECK(
      this->Write([](AuditCheckpointWriter& c) { return c.Append(MakeCheckpoint(0, 1)); }).code() ==
      Code::kInvalidArgument);
  AuditCheckpointRow short_hash = MakeCheckpoint(3, 1);
  short_hash.hash.pop_back();
  CHECK(this->Write([&](AuditCheckpointWriter& c) { return c.Append(short_hash); }).code() ==
        Code::kInvalidArgument);
  AuditCheckpointRow unsigned_row = MakeCheckpoint(3, 1);
  unsigned_row.signature.clear();
  CHECK(this->Write([&](AuditCheckpointWriter& c) { return c.Append(unsigned_row); }).code() ==
        Code::kInvalidArgument);

  const std::vector<AuditCheckpointRow> rows = this->List(0, 10);
  REQUIRE(rows.size() == 1);
  const AuditCheckpointRow want = MakeCheckpoint(2, 1);
  CHECK(rows[0].seq == 2u);
  CHECK(rows[0].hash == want.hash);
  CHECK(rows[0].at_ms == want.at_ms);
  CHECK(rows[0].key_version == 1u);
  CHECK(rows[0].signature == want.signature);
}

TEMPLATE_LIST_TEST_CASE_METHOD(CheckpointFixture,
                               "Checkpoints page by seq, oldest first, and a write sees its own",
                               "[storage][conformance][checkpoints]", Backends) {
  REQUIRE(this->Write([](AuditCheckpointWriter& c) -> Status {
                ESCROW_RETURN_IF_ERROR(c.AddSigningKey(MakeSigningKey(1)));
                ESCROW_RETURN_IF_ERROR(c.AddSigningKey(MakeSigningKey(2)));
                // Out of order: the listing orders them.
                for (const std::uint64_t seq : {5ULL, 1ULL, 3ULL, 2ULL}) {
                  ESCROW_RETURN_IF_ERROR(c.Append(MakeCheckpoint(seq, seq < 3 ? 1 : 2)));
                }
                Result<std::vector<AuditCheckpointRow>> own = c.List(0, 10);
                if (!own.ok()) return own.status();
                return own->size() == 4 ? Status::Ok() : Status::Internal("own writes unseen");
              })
              .ok());
  std::vector<AuditCheckpointRow> page = this->List(0, 2);
  REQUIRE(page.size() == 2);
  CHECK(page[0].seq == 1u);
  CHECK(page[1].seq == 2u);
  page = this->List(2, 2);
  REQUIRE(page.size() == 2);
  CHECK(page[0].seq == 3u);
  CHECK(page[0].key_version == 2u);
  CHECK(page[1].seq == 5u);
  CHECK(this->List(5, 2).empty());
  CHECK(this->List(static_cast<std::uint64_t>(INT64_MAX), 2).empty());
  CHECK(this->List(0, 0).empty());
}

}  // namespace
}  // namespace escrow::storage
