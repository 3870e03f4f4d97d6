// The second release's storage (migration 6) on every backend: device state records, keyed
// fingerprints on key versions, and the audit lookups a release makes.
#include <catch2/catch.hpp>

#include "tests/storage/conformance/backends.h"

namespace escrow::storage {
namespace {

using testing::Backends;
using testing::BackendStore;
using testing::MakeAudit;
using testing::MakeDevice;
using testing::MakeKeyVersion;
using testing::MustWrite;

DeviceStateRow MakeState(std::string device_id, std::uint32_t current, std::uint64_t seq) {
  DeviceStateRow row;
  row.device_id = std::move(device_id);
  row.current_version = current;
  row.rotation_pending = true;
  row.burned = Bytes(64, 0xB0);
  row.audit_seq = seq;
  row.audit_hash = Bytes(32, 0xA5);
  row.state_key_version = 1;
  row.mac = Bytes(32, 0x3C);
  return row;
}

template <class Backend>
struct StateFixture : BackendStore<Backend> {
  StateFixture() {
    MustWrite(*this->owned_store, [](WriteTxn& txn) {
      ESCROW_RETURN_IF_ERROR(txn.devices().Upsert(MakeDevice("dev-1")));
      return txn.devices().Upsert(MakeDevice("dev-2"));
    });
  }
  Result<std::optional<DeviceStateRow>> Get(std::string_view id) {
    std::optional<DeviceStateRow> out;
    Status s = this->owned_store->Read([&](ReadTxn& txn) -> Status {
      ESCROW_ASSIGN_OR_RETURN(out, txn.states().Get(id));
      return Status::Ok();
    });
    if (!s.ok()) return s;
    return out;
  }
};

TEMPLATE_LIST_TEST_CASE_METHOD(StateFixture, "State records are put, replaced and read back whole",
                               "[storage][conformance][state]", Backends) {
  auto absent = this->Get("dev-1");
  REQUIRE(absent.ok());
  CHECK_FALSE(absent->has_value());

  const DeviceStateRow first = MakeState("dev-1", 3, 7);
  MustWrite(*this->owned_store, [&](WriteTxn& txn) { return txn.states().Put(first); });
  auto read = this->Get("dev-1");
  REQUIRE(read.ok());
  REQUIRE(read->has_value());
  const DeviceStateRow& got = **read;
  CHECK(got.current_version == 3);
  CHECK(got.rotation_pending);
  CHECK_FALSE(got.rotation_command_sent);
  CHECK(got.burned == first.burned);
  CHECK(got.audit_seq == 7);
  CHECK(got.audit_hash == first.audit_hash);
  CHECK(got.state_key_version == 1);
  CHECK(got.mac == first.mac);

  DeviceStateRow second = MakeState("dev-1", 4, 9);
  second.rotation_pending = false;
  second.burned.clear();
  MustWrite(*this->owned_store, [&](WriteTxn& txn) { return txn.states().Put(second); });
  read = this->Get("dev-1");
  REQUIRE(read.ok());
  REQUIRE(read->has_value());
  CHECK((*read)->current_version == 4);
  CHECK_FALSE((*read)->rotation_pending);
  CHECK((*read)->burned.empty());
  CHECK((*read)->audit_seq == 9);

  DeviceStateRow sent = MakeState("dev-1", 4, 10);
  sent.rotation_command_sent = true;
  MustWrite(*this->owned_store, [&](WriteTxn& txn) { return txn.states().Put(sent); });
  read = this->Get("dev-1");
  REQUIRE(read.ok());
  REQUIRE(read->has_value());
  CHECK((*read)->rotation_command_sent);
}

TEMPLATE_LIST_TEST_CASE_METHOD(StateFixture, "State records are listed in device order by cursor",
                               "[storage][conformance][state]", Backends) {
  MustWrite(*this->owned_store, [&](WriteTxn& txn) {
    ESCROW_RETURN_IF_ERROR(txn.states().Put(MakeState("dev-2", 1, 2)));
    return txn.states().Put(MakeState("dev-1", 1, 1));
  });
  std::vector<DeviceStateRow> page1;
  std::vector<DeviceStateRow> page2;
  REQUIRE(this->owned_store
              ->Read([&](ReadTxn& txn) -> Status {
                ESCROW_ASSIGN_OR_RETURN(page1, txn.states().List(1, std::nullopt));
                ESCROW_ASSIGN_OR_RETURN(page2, txn.states().List(10, "dev-1"));
                return Status::Ok();
              })
              .ok());
  REQUIRE(page1.size() == 1);
  CHECK(page1[0].device_id == "dev-1");
  REQUIRE(page2.size() == 1);
  CHECK(page2[0].device_id == "dev-2");
}

TEMPLATE_LIST_TEST_CASE_METHOD(
    StateFixture, "A state record that breaks the schema or names no device is refused",
    "[storage][conformance][state]", Backends) {
  DeviceStateRow torn = MakeState("dev-1", 1, 1);
  torn.burned.resize(33);
  DeviceStateRow short_mac = MakeState("dev-1", 1, 1);
  short_mac.mac.resize(31);
  DeviceStateRow no_seq = MakeState("dev-1", 1, 0);
  // A rotation command is sent only for a pending rotation (migration 11).
  DeviceStateRow sent_not_pending = MakeState("dev-1", 1, 1);
  sent_not_pending.rotation_pending = false;
  sent_not_pending.rotation_command_sent = true;
  for (const DeviceStateRow* bad : {&torn, &short_mac, &no_seq, &sent_not_pending}) {
    CHECK(this->owned_store->Write([&](WriteTxn& txn) { return txn.states().Put(*bad); }).code() ==
          Code::kInvalidArgument);
  }
  CHECK(this->owned_store
            ->Write([&](WriteTxn& txn) { return txn.states().Put(MakeState("ghost", 1, 1)); })
            .code() == Code::kFailedPrecondition);
  auto read = this->Get("dev-1");
  REQUIRE(read.ok());
  CHECK_FALSE(read->has_value());
}

TEMPLATE_LIST_TEST_CASE_METHOD(StateFixture, "Key versions keep their keyed fingerprint",
                               "[storage][conformance][state]", Backends) {
  KeyVersionRow with = MakeKeyVersion("dev-1", 1);
  with.fingerprint = Bytes(32, 0xF1);
  with.fingerprint_key_version = 2;
  const KeyVersionRow without = MakeKeyVersion("dev-1", 2);
  MustWrite(*this->owned_store, [&](WriteTxn& txn) {
    ESCROW_RETURN_IF_ERROR(txn.versions().Insert(with));
    ESCROW_RETURN_IF_ERROR(txn.versions().Insert(without));
    return txn.versions().Insert(MakeKeyVersion("dev-2", 1));
  });
  std::optional<KeyVersionRow> got;
  std::vector<KeyVersionRow> missing;
  std::vector<KeyVersionRow> missing_after;
  auto read = [&] {
    return this->owned_store->Read([&](ReadTxn& txn) -> Status {
      ESCROW_ASSIGN_OR_RETURN(got, txn.versions().Get("dev-1", 1));
      ESCROW_ASSIGN_OR_RETURN(missing, txn.versions().ListUnfingerprinted(10, std::nullopt));
      ESCROW_ASSIGN_OR_RETURN(missing_after,
                              txn.versions().ListUnfingerprinted(10, KeyVersionKey{"dev-1", 2}));
      return Status::Ok();
    });
  };
  REQUIRE(read().ok());
  REQUIRE(got.has_value());
  REQUIRE(got->fingerprint.has_value());
  CHECK(*got->fingerprint == Bytes(32, 0xF1));
  CHECK(got->fingerprint_key_version == 2);
  REQUIRE(missing.size() == 2);
  CHECK(missing[0].device_id == "dev-1");
  CHECK(missing[0].version == 2);
  CHECK_FALSE(missing[0].fingerprint.has_value());
  REQUIRE(missing_after.size() == 1);
  CHECK(missing_after[0].device_id == "dev-2");

  MustWrite(*this->owned_store, [](WriteTxn& txn) {
    ESCROW_RETURN_IF_ERROR(txn.versions().SetFingerprint("dev-1", 2, Bytes(32, 0xF2), 1));
    return txn.versions().SetFingerprint("dev-2", 1, Bytes(32, 0xF3), 1);
  });
  REQUIRE(read().ok());
  CHECK(missing.empty());
  CHECK(this->owned_store
            ->Write([](WriteTxn& txn) {
              return txn.versions().SetFingerprint("dev-1", 9, Bytes(32, 0xF4), 1);
            })
            .code() == Code::kNotFound);
  CHECK(this->owned_store
            ->Write([](WriteTxn& txn) {
              return txn.versions().SetFingerprint("dev-1", 1, Bytes(31, 0xF4), 1);
            })
            .code() == Code::kInvalidArgument);
}

TEMPLATE_LIST_TEST_CASE_METHOD(StateFixture,
                               "The newest state change of a device skips denials, views and "
                               "other devices",
                               "[storage][conformance][state]", Backends) {
  MustWrite(*this->owned_store, [](WriteTxn& txn) {
    AuditRow r1 = MakeAudit(1, "dev-1");
    r1.action = "key.store";
    AuditRow r2 = MakeAudit(2, "dev-1");
    r2.action = "key.retrieve";
    AuditRow r3 = MakeAudit(3, "dev-1");
    r3.action = "key.retrieve";
    r3.outcome = "denied";
    AuditRow r4 = MakeAudit(4, "dev-1");
    r4.action = "device.view";
    AuditRow r5 = MakeAudit(5, "dev-2");
    r5.action = "key.rotate";
    for (const AuditRow* r : {&r1, &r2, &r3, &r4, &r5}) {
      ESCROW_RETURN_IF_ERROR(txn.audit().Append(*r));
    }
    return Status::Ok();
  });
  std::optional<std::uint64_t> dev1;
  std::optional<std::uint64_t> dev2;
  std::optional<std::uint64_t> none;
  std::optional<AuditRow> second;
  std::optional<AuditRow> beyond;
  REQUIRE(this->owned_store
              ->Read([&](ReadTxn& txn) -> Status {
                ESCROW_ASSIGN_OR_RETURN(dev1, txn.audit().NewestStateChange("dev-1"));
                ESCROW_ASSIGN_OR_RETURN(dev2, txn.audit().NewestStateChange("dev-2"));
                ESCROW_ASSIGN_OR_RETURN(none, txn.audit().NewestStateChange("dev-3"));
                ESCROW_ASSIGN_OR_RETURN(second, txn.audit().Get(2));
                ESCROW_ASSIGN_OR_RETURN(beyond, txn.audit().Get(99));
                return Status::Ok();
              })
              .ok());
  CHECK(dev1 == std::optional<std::uint64_t>(2));
  CHECK(dev2 == std::optional<std::uint64_t>(5));
  CHECK_FALSE(none.has_value());
  REQUIRE(second.has_value());
  CHECK(second->seq == 2);
  CHECK(second->action == "key.retrieve");
  CHECK_FALSE(beyond.has_value());
}

}  // namespace
}  // namespace escrow::storage
