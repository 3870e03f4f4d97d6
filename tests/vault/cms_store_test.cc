// EscrowService::StoreCmsKey (PUT .../recovery-key/cms) on the fakes: envelopes made by the
// openssl command line (an implementation independent of ours) to the vault's own escrow
// certificates, opened by the fake key service in software. The real HSM's half is
// tests/vault/escrow_cert_test.cc and tests/e2e/cms_e2e_test.cc.

#include <catch2/catch.hpp>

#include <fstream>
#include <string>

#include "base/base64.h"
#include "tests/support/temp_dir.h"
#include "tests/vault/cms_vault.h"

namespace escrow::vault {
namespace {

using escrow::testing::CmsVault;
using escrow::testing::kFirstKey;
using escrow::testing::kSecondKey;

Caller Mdm() { return Caller::Mdm("mdm"); }

void CheckRefused(const Status& s) {
  INFO(s.ToString());
  CHECK(s.code() == Code::kInvalidArgument);
  CHECK(s.reason() == "invalid_cms");
  CHECK(s.message() == "the envelope does not open");
}

TEST_CASE("A CMS envelope to the fleet certificate stores the key with source cms",
          "[vault][cms]") {
  CmsVault v;
  const std::string flags = GENERATE(std::string("-aes256"), std::string("-des3"),
                                     std::string("-aes128 -keyid"));
  const std::string cms = v.Envelope(v.fleet.der, flags, std::string(kSecondKey) + "\n");
  Result<StoreKeyResult> r = v.service->StoreCmsKey(Mdm(), "mac-1", cms, std::nullopt);
  INFO(r.status().ToString());
  REQUIRE(r.ok());
  CHECK(r->created);
  CHECK(r->version == 2);
  CHECK(v.LastDetail() == "key.store ok version=2 source=cms");
  Result<std::vector<VersionInfo>> versions = v.service->ListVersions(Mdm(), "mac-1");
  REQUIRE(versions.ok());
  REQUIRE(versions->back().source == KeySource::kCms);
  Result<RetrievedKey> key =
      v.service->Retrieve(escrow::testing::HelpdeskCaller(), "mac-1", "user locked out", 2);
  REQUIRE(key.ok());
  CHECK(key->recovery_key.RevealSecretText() == kSecondKey);
  // The same envelope again for the same device: already current, nothing new.
  Result<StoreKeyResult> again = v.service->StoreCmsKey(Mdm(), "mac-1", cms, std::nullopt);
  REQUIRE(again.ok());
  CHECK_FALSE(again->created);
}

TEST_CASE("CMS stores run the device checks of a store first", "[vault][cms]") {
  CmsVault v;
  const std::string garbage = "not base64!";
  CHECK(v.Put("mac-none", garbage).reason() == "device_not_found");
  CHECK(v.service->StoreCmsKey(Caller::User("alice", {}, "portal"), "mac-1", garbage,
                               std::nullopt)
            .status()
            .reason() == "forbidden");
  DeviceSpec off{"SN-3", "Laptop", Platform::kMacos, Ownership::kCorporate, "carol", false};
  REQUIRE(v.service->PutDevice(Mdm(), "mac-3", off).ok());
  REQUIRE(v.service->CheckIn(Mdm(), "mac-3").ok());
  CHECK(v.Put("mac-3", garbage).reason() == "encryption_not_enabled");
  // A key ID of the wrong form is the request's fault, before the envelope is looked at.
  CHECK(v.service->StoreCmsKey(Mdm(), "mac-2", garbage, std::string(65, 'k')).status().reason() ==
        "invalid_request");
  v.clock.Advance(std::chrono::hours(24 * 8));
  CHECK(v.Put("mac-1", garbage).reason() == "device_not_synced");
}

TEST_CASE("Hostile CMS envelopes are one answer and change nothing", "[vault][cms]") {
  CmsVault v;
  const std::string good = v.Envelope(v.fleet.der, "-aes256");
  Result<Bytes> der = DecodeBase64Strict(good, 1 << 14);
  REQUIRE(der.ok());
  Bytes truncated(der->begin(), der->begin() + static_cast<std::ptrdiff_t>(der->size() / 2));
  Bytes flipped = *der;
  // The last padding byte (03 -> 02) through the block before: always bad padding.
  flipped[flipped.size() - 1 - 16] ^= 0x01;
  struct Case {
    std::string cms;
    std::string cause;
  };
  for (const Case& c : {Case{"%%%", "not base64"}, Case{EncodeBase64(Bytes(64, 0x30)), ""},
                        Case{EncodeBase64(truncated), ""}, Case{EncodeBase64(flipped), "decrypt"},
                        Case{v.Envelope(v.fleet.der, "-aes256", "not a recovery key"),
                             "key format"}}) {
    const std::size_t before = v.Versions("mac-1");
    CheckRefused(v.Put("mac-1", c.cms));
    CHECK(v.Versions("mac-1") == before);
    const std::string detail = v.LastDetail();
    CHECK_THAT(detail, Catch::StartsWith("key.store_cms denied envelope not accepted: "));
    if (!c.cause.empty()) CHECK_THAT(detail, Catch::EndsWith(c.cause));
  }
}

TEST_CASE("A CMS envelope is accepted for one device only", "[vault][cms]") {
  CmsVault v;
  SECTION("the same envelope for another device is a replay") {
    const std::string cms = v.Envelope(v.fleet.der, "-aes256");
    REQUIRE(v.Put("mac-1", cms).ok());
    CheckRefused(v.Put("mac-2", cms));
    CHECK(v.LastDetail() == "key.store_cms denied envelope not accepted: replay");
    CHECK(v.Versions("mac-2") == 0);
  }
  SECTION("an envelope to a device's own certificate opens for that device only") {
    Result<EscrowCertificate> own = v.service->DeviceEscrowCertificate(Mdm(), "mac-1");
    REQUIRE(own.ok());
    const std::string cms = v.Envelope(own->der, "-aes256");
    CheckRefused(v.Put("mac-2", cms));
    CHECK(v.LastDetail() == "key.store_cms denied envelope not accepted: addressed to another device");
    // (By subject key identifier it names the escrow key, as the fleet certificate does: only
    // issuer and serial bind an envelope to a device.)
    REQUIRE(v.Put("mac-1", cms).ok());
    CHECK(v.Versions("mac-2") == 0);
  }
  SECTION("an envelope to a certificate the vault does not have") {
    const Bytes der = testing::OpensslCms("-aes256 " + testing::Keys().cert_path[0], kSecondKey);
    CheckRefused(v.Put("mac-1", EncodeBase64(der)));
    CHECK(v.LastDetail() == "key.store_cms denied envelope not accepted: no matching recipient");
  }
}

TEST_CASE("An envelope to a retired certificate is refused", "[vault][cms]") {
  CmsVault v;
  const std::string cms = v.Envelope(v.fleet.der, "-aes256");
  const std::string by_key_id = v.Envelope(v.fleet.der, "-aes256 -keyid");
  // A second fleet certificate becomes current; the first is retired.
  REQUIRE(v.fake_store
              .Write([&](storage::WriteTxn& txn) {
                storage::EscrowCertRow row;
                row.serial = std::string(32, 'e');
                row.key_version = 2;
                row.ca_version = 1;
                row.kind = storage::EscrowCertKind::kFleet;
                row.state = storage::EscrowCertState::kActive;
                row.not_before = v.fleet.not_before;
                row.not_after = v.fleet.not_after;
                row.sha256 = std::string(64, 'e');
                row.der = v.ca.der;
                ESCROW_RETURN_IF_ERROR(txn.escrow_certs().Insert(row));
                ESCROW_RETURN_IF_ERROR(txn.escrow_certs().MakeCurrent(row.serial));
                return txn.escrow_certs().Retire(v.fleet.serial_hex);
              })
              .ok());
  CheckRefused(v.Put("mac-1", cms));
  CHECK(v.LastDetail() == "key.store_cms denied envelope not accepted: retired certificate");
  CheckRefused(v.Put("mac-1", by_key_id));
  CHECK(v.LastDetail() == "key.store_cms denied envelope not accepted: retired certificate");
  CHECK(v.Versions("mac-1") == 1);
}

}  // namespace
}  // namespace escrow::vault
