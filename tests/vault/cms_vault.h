#pragma once

// A FakeVault with Apple MDM escrow set up, for the tests of the CMS store and the rotation
// command: envelopes are made by the openssl command line (an implementation independent of
// ours) to the vault's own escrow certificates and opened by the fake key service in software.

#include <catch2/catch.hpp>

#include <fstream>
#include <string>

#include "base/base64.h"
#include "tests/support/temp_dir.h"
#include "tests/vault/cms_test_util.h"
#include "tests/vault/fake_vault.h"
#include "vault/escrow_cert.h"

namespace escrow::testing {

using vault::CertificateFields;
using vault::IssuedCertificate;

inline CertificateFields Fields(std::string cn, std::uint32_t days, std::int64_t now) {
  CertificateFields f;
  f.subject_cn = std::move(cn);
  Result<Bytes> serial = vault::NewSerial();
  REQUIRE(serial.ok());
  f.serial = std::move(*serial);
  f.not_before = now;
  f.days = days;
  return f;
}

inline void WriteText(const std::string& path, std::string_view text) {
  std::ofstream(path, std::ios::binary) << text;
}

// FakeVault ("mac-1" of alice, one key stored) with escrow key 1, its CA and fleet certificate
// current, and a second Mac "mac-2" enrolled and checked in.
struct CmsVault : FakeVault {
  TempDir dir;
  IssuedCertificate ca;
  IssuedCertificate fleet;

  explicit CmsVault(vault::EscrowOptions options = {}) : FakeVault(std::move(options)) {
    const std::int64_t now = ToUnixSeconds(clock.Now());
    Result<hsm::EscrowKeyInfo> ca_key = fake_keys.GenerateSigningKey(hsm::EscrowKeyKind::kCa, 1);
    REQUIRE(ca_key.ok());
    Result<hsm::EscrowKeyInfo> cms_key = fake_keys.GenerateCmsKey(1, hsm::kCmsKeyBits2048);
    REQUIRE(cms_key.ok());
    Result<IssuedCertificate> c = vault::IssueCaCertificate(fake_keys, *ca_key, Fields("CA", 3650, now));
    REQUIRE(c.ok());
    ca = *c;
    Result<IssuedCertificate> f =
        vault::IssueEscrowCertificate(fake_keys, 1, ca.der, *cms_key, Fields("Fleet", 365, now));
    REQUIRE(f.ok());
    fleet = *f;
    REQUIRE(fake_store
                .Write([&](storage::WriteTxn& txn) {
                  storage::EscrowCaRow ca_row{1, ca.serial_hex, ca.not_before, ca.not_after,
                                              ca.sha256_hex, ca.der};
                  ESCROW_RETURN_IF_ERROR(txn.escrow_certs().PutCa(ca_row));
                  storage::EscrowCertRow row;
                  row.serial = fleet.serial_hex;
                  row.key_version = 1;
                  row.ca_version = 1;
                  row.kind = storage::EscrowCertKind::kFleet;
                  row.state = storage::EscrowCertState::kActive;
                  row.not_before = fleet.not_before;
                  row.not_after = fleet.not_after;
                  row.sha256 = fleet.sha256_hex;
                  row.der = fleet.der;
                  ESCROW_RETURN_IF_ERROR(txn.escrow_certs().Insert(row));
                  return txn.escrow_certs().MakeCurrent(row.serial);
                })
                .ok());
    const vault::DeviceSpec spec{"SN-2",  "Laptop", vault::Platform::kMacos,
                                 vault::Ownership::kCorporate, "bob", true};
    REQUIRE(service->PutDevice(vault::Caller::Mdm("mdm"), "mac-2", spec).ok());
    REQUIRE(service->CheckIn(vault::Caller::Mdm("mdm"), "mac-2").ok());
  }

  // `openssl cms -encrypt` of `content` to the certificate `der` with `flags`, as base64.
  std::string Envelope(const Bytes& der, const std::string& flags,
                       std::string_view content = kSecondKey) {
    const std::string cert = dir.str() + "/recipient.pem";
    const std::string in = dir.str() + "/key.txt";
    const std::string out = dir.str() + "/key.cms";
    WriteText(cert, vault::CertificatePem(der));
    WriteText(in, content);
    const std::string command = "openssl cms -encrypt -binary " + flags + " -in " + in +
                                " -outform DER -out " + out + " " + cert + " 2>&1";
    std::string output;
    INFO(command);
    REQUIRE(RunCommand(command, &output) == 0);
    const std::string bytes = ReadFileBytes(out);
    return EncodeBase64(Bytes(bytes.begin(), bytes.end()));
  }

  std::size_t Versions(std::string_view id) {
    std::size_t n = 0;
    REQUIRE(fake_store
                .Read([&](storage::ReadTxn& txn) -> Status {
                  ESCROW_ASSIGN_OR_RETURN(std::vector<storage::KeyVersionRow> v,
                                          txn.versions().List(id));
                  n = v.size();
                  return Status::Ok();
                })
                .ok());
    return n;
  }

  // The newest audit record's detail.
  std::string LastDetail() {
    std::string detail;
    REQUIRE(fake_store
                .Read([&](storage::ReadTxn& txn) -> Status {
                  ESCROW_ASSIGN_OR_RETURN(std::optional<storage::AuditRow> last,
                                          txn.audit().Last());
                  if (last) detail = last->action + " " + last->outcome + " " + last->detail;
                  return Status::Ok();
                })
                .ok());
    return detail;
  }

  Status Put(std::string_view id, const std::string& cms) {
    return service->StoreCmsKey(vault::Caller::Mdm("mdm"), id, cms, std::nullopt).status();
  }
};

}  // namespace escrow::testing
