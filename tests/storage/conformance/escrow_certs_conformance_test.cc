// Migration 8 on every backend: the escrow CA's certificates and the escrow certificates with
// their state (one current fleet certificate, retirement by escrow key, device certificates).
#include <catch2/catch.hpp>

#include "tests/storage/conformance/backends.h"

namespace escrow::storage {
namespace {

using testing::Backends;
using testing::BackendStore;
using testing::MakeDevice;
using testing::MustWrite;

std::string Serial(char c) { return std::string(32, c); }

EscrowCaRow MakeCa(std::uint32_t version, char serial) {
  EscrowCaRow row;
  row.version = version;
  row.serial = Serial(serial);
  row.not_before = 1'700'000'000;
  row.not_after = row.not_before + 86400;
  row.sha256 = std::string(64, 'a');
  row.der = Bytes{0x30, 0x03, 0x02, 0x01, 0x01};
  return row;
}

EscrowCertRow MakeCert(char serial, std::uint32_t key_version,
                       std::optional<std::string> device = std::nullopt) {
  EscrowCertRow row;
  row.serial = Serial(serial);
  row.key_version = key_version;
  row.ca_version = 1;
  row.kind = device ? EscrowCertKind::kDevice : EscrowCertKind::kFleet;
  row.device_id = std::move(device);
  row.state = EscrowCertState::kActive;
  row.not_before = 1'700'000'000;
  row.not_after = row.not_before + 365LL * 86400;
  row.sha256 = std::string(64, 'b');
  row.der = Bytes{0x30, 0x03, 0x02, 0x01, static_cast<std::uint8_t>(serial)};
  return row;
}

template <class Backend>
struct CertFixture : BackendStore<Backend> {
  CertFixture() {
    MustWrite(*this->owned_store, [](WriteTxn& txn) {
      ESCROW_RETURN_IF_ERROR(txn.devices().Upsert(MakeDevice("dev-1")));
      return txn.escrow_certs().PutCa(MakeCa(1, 'c'));
    });
  }
  Status Write(const std::function<Status(EscrowCertWriter&)>& fn) {
    return this->owned_store->Write([&](WriteTxn& txn) { return fn(txn.escrow_certs()); });
  }
  template <class T>
  T Read(const std::function<Result<T>(EscrowCertReader&)>& fn) {
    std::optional<T> out;
    Status s = this->owned_store->Read([&](ReadTxn& txn) -> Status {
      Result<T> r = fn(txn.escrow_certs());
      if (!r.ok()) return r.status();
      out.emplace(std::move(r).value());
      return Status::Ok();
    });
    INFO(s.ToString());
    REQUIRE(s.ok());
    return std::move(*out);
  }
  std::optional<EscrowCertRow> Get(char serial) {
    return Read<std::optional<EscrowCertRow>>(
        [&](EscrowCertReader& r) { return r.Get(Serial(serial)); });
  }
};

TEMPLATE_LIST_TEST_CASE_METHOD(CertFixture, "Escrow CA certificates are kept by version",
                               "[storage][conformance][escrow_certs]", Backends) {
  auto ca = this->template Read<std::optional<EscrowCaRow>>(
      [](EscrowCertReader& r) { return r.GetCa(1); });
  REQUIRE(ca.has_value());
  CHECK(ca->serial == Serial('c'));
  CHECK(ca->der == MakeCa(1, 'c').der);
  CHECK(this->Write([](EscrowCertWriter& w) { return w.PutCa(MakeCa(1, 'd')); }).code() ==
        Code::kAlreadyExists);
  CHECK(this->Write([](EscrowCertWriter& w) { return w.PutCa(MakeCa(2, 'c')); }).code() ==
        Code::kAlreadyExists);  // serials are unique
  EscrowCaRow bad = MakeCa(2, 'e');
  bad.serial = std::string(32, 'E');  // not lowercase hex
  CHECK(this->Write([&](EscrowCertWriter& w) { return w.PutCa(bad); }).code() ==
        Code::kInvalidArgument);
  REQUIRE(this->Write([](EscrowCertWriter& w) { return w.PutCa(MakeCa(2, 'e')); }).ok());
  auto newest = this->template Read<std::optional<EscrowCaRow>>(
      [](EscrowCertReader& r) { return r.NewestCa(); });
  REQUIRE(newest.has_value());
  CHECK(newest->version == 2);
}

TEMPLATE_LIST_TEST_CASE_METHOD(CertFixture, "One fleet certificate is current at a time",
                               "[storage][conformance][escrow_certs]", Backends) {
  CHECK_FALSE(this->template Read<std::optional<EscrowCertRow>>(
                      [](EscrowCertReader& r) { return r.Current(); })
                  .has_value());
  REQUIRE(this->Write([](EscrowCertWriter& w) {
                ESCROW_RETURN_IF_ERROR(w.Insert(MakeCert('1', 1)));
                return w.MakeCurrent(Serial('1'));
              }).ok());
  REQUIRE(this->Write([](EscrowCertWriter& w) {
                ESCROW_RETURN_IF_ERROR(w.Insert(MakeCert('2', 2)));
                return w.MakeCurrent(Serial('2'));
              }).ok());
  auto current = this->template Read<std::optional<EscrowCertRow>>(
      [](EscrowCertReader& r) { return r.Current(); });
  REQUIRE(current.has_value());
  CHECK(current->serial == Serial('2'));
  CHECK(this->Get('1')->state == EscrowCertState::kActive);
  auto fleet = this->template Read<std::vector<EscrowCertRow>>(
      [](EscrowCertReader& r) { return r.ListFleet(); });
  REQUIRE(fleet.size() == 2);
  CHECK(fleet[0].serial == Serial('1'));
  CHECK(fleet[1].serial == Serial('2'));
  CHECK(this->template Read<std::uint32_t>(
            [](EscrowCertReader& r) { return r.LatestKeyVersion(); }) == 2);

  CHECK(this->Write([](EscrowCertWriter& w) { return w.MakeCurrent(Serial('9')); }).code() ==
        Code::kNotFound);
  EscrowCertRow current_insert = MakeCert('3', 3);
  current_insert.state = EscrowCertState::kCurrent;
  CHECK(this->Write([&](EscrowCertWriter& w) { return w.Insert(current_insert); }).code() ==
        Code::kInvalidArgument);
}

TEMPLATE_LIST_TEST_CASE_METHOD(CertFixture,
                               "Retiring a fleet certificate retires its key's certificates",
                               "[storage][conformance][escrow_certs]", Backends) {
  REQUIRE(this->Write([](EscrowCertWriter& w) {
                ESCROW_RETURN_IF_ERROR(w.Insert(MakeCert('1', 1)));
                ESCROW_RETURN_IF_ERROR(w.Insert(MakeCert('d', 1, "dev-1")));
                ESCROW_RETURN_IF_ERROR(w.MakeCurrent(Serial('1')));
                return w.Insert(MakeCert('2', 2));
              }).ok());
  // The current one (or one of its key) cannot be retired; a device certificate is not
  // retired on its own.
  CHECK(this->Write([](EscrowCertWriter& w) { return w.Retire(Serial('1')); }).code() ==
        Code::kFailedPrecondition);
  CHECK(this->Write([](EscrowCertWriter& w) { return w.Retire(Serial('d')); }).code() ==
        Code::kFailedPrecondition);
  CHECK(this->Write([](EscrowCertWriter& w) { return w.Retire(Serial('9')); }).code() ==
        Code::kNotFound);

  REQUIRE(this->Write([](EscrowCertWriter& w) { return w.MakeCurrent(Serial('2')); }).ok());
  REQUIRE(this->Write([](EscrowCertWriter& w) { return w.Retire(Serial('1')); }).ok());
  CHECK(this->Get('1')->state == EscrowCertState::kRetired);
  CHECK(this->Get('d')->state == EscrowCertState::kRetired);
  CHECK(this->Get('2')->state == EscrowCertState::kCurrent);
  CHECK_FALSE(this->template Read<std::optional<EscrowCertRow>>([](EscrowCertReader& r) {
                    return r.ForDevice("dev-1", 1);
                  }).has_value());
  CHECK(this->Write([](EscrowCertWriter& w) { return w.Retire(Serial('1')); }).ok());
  CHECK(this->Write([](EscrowCertWriter& w) { return w.MakeCurrent(Serial('1')); }).code() ==
        Code::kFailedPrecondition);
}

TEMPLATE_LIST_TEST_CASE_METHOD(CertFixture, "Device certificates name an enrolled device",
                               "[storage][conformance][escrow_certs]", Backends) {
  REQUIRE(this->Write([](EscrowCertWriter& w) { return w.Insert(MakeCert('d', 1, "dev-1")); })
              .ok());
  auto found = this->template Read<std::optional<EscrowCertRow>>(
      [](EscrowCertReader& r) { return r.ForDevice("dev-1", 1); });
  REQUIRE(found.has_value());
  CHECK(found->serial == Serial('d'));
  CHECK(found->kind == EscrowCertKind::kDevice);
  REQUIRE(found->device_id.has_value());
  CHECK(*found->device_id == "dev-1");
  CHECK_FALSE(this->template Read<std::optional<EscrowCertRow>>([](EscrowCertReader& r) {
                    return r.ForDevice("dev-1", 2);
                  }).has_value());
  CHECK(this->Write([](EscrowCertWriter& w) { return w.MakeCurrent(Serial('d')); }).code() ==
        Code::kFailedPrecondition);
  CHECK(this->Write([](EscrowCertWriter& w) { return w.Insert(MakeCert('e', 1, "dev-9")); })
            .code() == Code::kFailedPrecondition);  // no such device
  EscrowCertRow no_ca = MakeCert('f', 1);
  no_ca.ca_version = 7;
  CHECK(this->Write([&](EscrowCertWriter& w) { return w.Insert(no_ca); }).code() ==
        Code::kFailedPrecondition);
  EscrowCertRow fleet_with_device = MakeCert('f', 1);
  fleet_with_device.device_id = "dev-1";
  CHECK(this->Write([&](EscrowCertWriter& w) { return w.Insert(fleet_with_device); }).code() ==
        Code::kInvalidArgument);
  CHECK(this->Write([](EscrowCertWriter& w) { return w.Insert(MakeCert('d', 1, "dev-1")); })
            .code() == Code::kAlreadyExists);
}

TEMPLATE_LIST_TEST_CASE_METHOD(CertFixture,
                               "Accepted CMS envelopes are recorded once with their device",
                               "[storage][conformance][escrow_certs][cms]", Backends) {
  const Bytes digest(32, 0x5a);
  using Device = std::optional<std::string>;
  CHECK_FALSE(this->template Read<Device>([&](EscrowCertReader& r) {
                    return r.EnvelopeDevice(digest);
                  }).has_value());
  REQUIRE(this->Write([&](EscrowCertWriter& w) {
                return w.RecordEnvelope(digest, "dev-1", 1'700'000'000'000);
              }).ok());
  CHECK(this->template Read<Device>([&](EscrowCertReader& r) {
          return r.EnvelopeDevice(digest);
        }) == Device("dev-1"));
  // The digest is the key: the same envelope never records twice, for any device.
  CHECK(this->Write([&](EscrowCertWriter& w) {
              return w.RecordEnvelope(digest, "dev-1", 1'700'000'000'001);
            }).code() == Code::kAlreadyExists);
  // Only devices that exist, and only SHA-256 digests.
  CHECK(this->Write([&](EscrowCertWriter& w) {
              return w.RecordEnvelope(Bytes(32, 0x11), "dev-none", 1);
            }).code() == Code::kFailedPrecondition);
  CHECK(this->Write([&](EscrowCertWriter& w) {
              return w.RecordEnvelope(Bytes(31, 0x11), "dev-1", 1);
            }).code() == Code::kInvalidArgument);
  CHECK_FALSE(this->template Read<Device>([&](EscrowCertReader& r) {
                    return r.EnvelopeDevice(Bytes(32, 0x11));
                  }).has_value());
}

}  // namespace
}  // namespace escrow::storage
