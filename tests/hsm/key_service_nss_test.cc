// The KeyService on NSS's softoken (libnss3's libsoftokn3.so), a module unlike SoftHSMv2: its
// configuration in C_Initialize's pReserved, its token named by URI, no CKA_CHECK_VALUE, no SO
// login after set-up, CKR_ENCRYPTED_DATA_INVALID for a failed GCM tag. Each test makes its own
// database (tests/support/nss_softoken.h); skipped with a WARN where libsoftokn3 is missing.

#include <memory>
#include <string>

#include <catch2/catch.hpp>

#include "base/bytes.h"
#include "hsm/key_backup.h"
#include "hsm/key_service.h"
#include "tests/support/nss_softoken.h"
#include "tests/support/softhsm_token.h"

namespace escrow::hsm {
namespace {

using testing::NssSoftoken;

bool Skip() {
  if (NssSoftoken::Available()) return false;
  WARN("SKIPPED: " << NssSoftoken::kModulePath << " is not installed (libnss3)");
  return true;
}

std::unique_ptr<KeyService> Open(const NssSoftoken& nss) {
  Result<std::unique_ptr<KeyService>> keys = KeyService::Open(nss.config());
  INFO(keys.status().ToString());
  REQUIRE(keys.ok());
  return std::move(*keys);
}

bool IsHex6(const std::string& s) {
  return s.size() == 6 && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

TEST_CASE("KeyService opens NSS's softoken by URI and init_args and finds what it cannot do",
          "[hsm][nss]") {
  if (Skip()) return;
  NssSoftoken nss;
  std::unique_ptr<KeyService> keys = Open(nss);
  CHECK(keys->token().label == NssSoftoken::kTokenLabel);
  CHECK(keys->token().manufacturer == "Mozilla Foundation");
  const ModuleCapabilities caps = keys->capabilities();
  CHECK_FALSE(caps.check_value);
  CHECK(caps.derived_check_value);
  CHECK_FALSE(caps.data_objects);
  CHECK_FALSE(caps.so_user);
  // Its copies drop CKA_WRAP_WITH_TRUSTED and CKA_ALWAYS_SENSITIVE: not used.
  CHECK_FALSE(caps.session_copies);
  CHECK_FALSE(caps.softhsm_store);
  const std::vector<std::string> missing = caps.Missing();
  REQUIRE(missing.size() == 4);
  CHECK_THAT(missing[0], Catch::StartsWith("CKA_CHECK_VALUE"));
  CHECK_THAT(missing[1], Catch::StartsWith("private data objects"));
  CHECK_THAT(missing[2], Catch::StartsWith("an SO login"));
  CHECK_THAT(missing[3], Catch::StartsWith("session copies of keys that keep every protection"));

  // Without init_args the softoken does not start; a label that is not the token's is not it.
  HsmConfig bare = nss.config();
  keys.reset();
  bare.init_args.clear();
  CHECK_FALSE(KeyService::Open(bare).ok());
  HsmConfig other = nss.config();
  other.token_uri = "pkcs11:token=NSS%20Generic%20Crypto%20Services;serial=1";
  CHECK(KeyService::Open(other).status().code() == Code::kUnavailable);
}

TEST_CASE("A second init_args for a module already loaded is refused, not silently ignored",
          "[hsm][nss]") {
  if (Skip()) return;
  NssSoftoken nss;
  std::unique_ptr<KeyService> keys = Open(nss);
  HsmConfig other = nss.config();
  other.init_args += " ";
  Result<std::unique_ptr<KeyService>> second = KeyService::Open(other);
  CHECK(second.status().code() == Code::kFailedPrecondition);
  CHECK_THAT(second.status().message(), Catch::Contains("other init_args"));
  // The same init_args share the loaded module.
  CHECK(KeyService::Open(nss.config()).ok());
}

TEST_CASE("A module without CKA_CHECK_VALUE gets 3-byte check values made in the token",
          "[hsm][nss]") {
  if (Skip()) return;
  NssSoftoken nss;
  std::unique_ptr<KeyService> keys = Open(nss);
  Result<KeyInfo> master = keys->GenerateKey(KeyRole::kMaster, 1, false);
  Result<KeyInfo> audit = keys->GenerateKey(KeyRole::kAudit, 1, false);
  INFO(master.status().ToString() << " " << audit.status().ToString());
  REQUIRE(master.ok());
  REQUIRE(audit.ok());
  CHECK(IsHex6(master->check_value));
  CHECK(master->check_value_method == kCheckValueGcm);
  CHECK(IsHex6(audit->check_value));
  CHECK(audit->check_value_method == kCheckValueHmac);
  CHECK(CheckValueText(*master) == master->check_value + " (GCM tag of a fixed block)");
  // The same key gives the same value every time (what witnesses compare).
  Result<KeyInfo> again = keys->FindKey(KeyRole::kMaster, 1);
  REQUIRE(again.ok());
  CHECK(again->check_value == master->check_value);
  Result<std::vector<KeyInfo>> listed = keys->ListKeys();
  REQUIRE(listed.ok());
  REQUIRE(listed->size() == 2);
  CHECK(listed->front().check_value == master->check_value);
}

TEST_CASE("On NSS's softoken a record with a bad tag is kDataLoss and the HSM passes its probe",
          "[hsm][nss]") {
  if (Skip()) return;
  NssSoftoken nss;
  std::unique_ptr<KeyService> keys = Open(nss);
  REQUIRE(keys->GenerateKey(KeyRole::kMaster, 1, false).ok());
  REQUIRE(keys->GenerateKey(KeyRole::kAudit, 1, false).ok());
  const std::string plain = "ABCD-EFGH-IJKL-MNOP-QRST-UVWX";
  const std::string aad = "aad";
  Result<Sealed> sealed = keys->Encrypt(1, AsBytes(plain), AsBytes(aad));
  REQUIRE(sealed.ok());
  Result<SecretBytes> opened = keys->Decrypt(1, *sealed, AsBytes(aad));
  REQUIRE(opened.ok());
  CHECK(opened->size() == plain.size());
  // NSS answers CKR_ENCRYPTED_DATA_INVALID: a bad record, told apart from a bad HSM by the
  // known-answer probe.
  Sealed forged = *sealed;
  forged.tag.back() ^= 0x01;
  const Status bad_tag = keys->Decrypt(1, forged, AsBytes(aad)).status();
  INFO(bad_tag.ToString());
  CHECK(bad_tag.code() == Code::kDataLoss);
  CHECK(keys->Decrypt(1, *sealed, AsBytes("other")).status().code() == Code::kDataLoss);
  const Status probe = keys->Probe(1);
  INFO(probe.ToString());
  CHECK(probe.ok());
  // HMAC: a wrong MAC is kDataLoss too.
  Result<Mac> mac = keys->Sign(KeyRole::kAudit, 1, AsBytes(aad));
  REQUIRE(mac.ok());
  CHECK(keys->Verify(KeyRole::kAudit, 1, AsBytes(aad), *mac).ok());
  (*mac)[0] ^= 0x01;
  const Status wrong_mac = keys->Verify(KeyRole::kAudit, 1, AsBytes(aad), *mac);
  INFO(wrong_mac.ToString());
  CHECK(wrong_mac.code() == Code::kDataLoss);
}

TEST_CASE(
    "Master-key backup on NSS's softoken is refused for want of an SO, before any PIN is read",
    "[hsm][nss]") {
  if (Skip()) return;
  NssSoftoken nss;
  {
    std::unique_ptr<KeyService> keys = Open(nss);
    REQUIRE(keys->GenerateKey(KeyRole::kMaster, 1, true).ok());
  }
  TokenLogin login{nss.module_path(), "", nullptr, nullptr, nss.token_uri(), nss.init_args()};
  const Status possible = CheckBackupPossible(login);
  CHECK(possible.code() == Code::kFailedPrecondition);
  CHECK(possible.reason() == "no_so_user");
  CHECK_THAT(possible.message(), Catch::Contains("no security officer"));
  CHECK_THAT(possible.message(), Catch::Contains("Mozilla Foundation NSS 3"));
  const SecretBytes user_pin = SecretBytes::CopyOf(nss.pin());
  const SecretBytes so_pin = SecretBytes::CopyOf("");
  login.user_pin = &user_pin;
  login.so_pin = &so_pin;
  SecretBytes ceremony(kCeremonyKeyBytes);
  Result<std::vector<WrappedKey>> wrapped = WrapVaultKeys(login, ceremony);
  CHECK(wrapped.status().reason() == "no_so_user");
}

TEST_CASE("A SoftHSMv2 backup restored into NSS's softoken is refused: no check values to prove it",
          "[hsm][nss][backup]") {
  if (Skip()) return;
  if (testing::SoftHsmToken::UsesNss()) {
    WARN("SKIPPED: needs a SoftHSMv2 token beside the NSS database");
    return;
  }
  testing::SoftHsmToken source;
  {
    Result<std::unique_ptr<KeyService>> keys = KeyService::Open(source.config());
    REQUIRE(keys.ok());
    REQUIRE((*keys)->GenerateKey(KeyRole::kMaster, 1, true).ok());
  }
  const SecretBytes source_pin = SecretBytes::CopyOf(source.pin());
  // The fixture's SO PIN: "so-pin-<n>" for the label "escrow-test-<pid>-<n>".
  const SecretBytes so_pin =
      SecretBytes::CopyOf("so-pin-" + source.label().substr(source.label().rfind('-') + 1));
  SecretBytes ceremony(kCeremonyKeyBytes);
  ceremony.mutable_span()[0] = 1;
  Result<std::vector<WrappedKey>> wrapped =
      WrapVaultKeys({source.module_path(), source.label(), &source_pin, &so_pin}, ceremony);
  INFO(wrapped.status().ToString());
  REQUIRE(wrapped.ok());

  NssSoftoken nss;
  const SecretBytes nss_pin = SecretBytes::CopyOf(nss.pin());
  const TokenLogin target{nss.module_path(), "", &nss_pin, nullptr, nss.token_uri(),
                          nss.init_args()};
  const Status restored = UnwrapVaultKeys(target, ceremony, *wrapped);
  CHECK(restored.code() == Code::kFailedPrecondition);
  CHECK(restored.reason() == "no_check_value");
  CHECK_THAT(restored.message(), Catch::Contains("no CKA_CHECK_VALUE"));
  // Nothing was unwrapped into it.
  std::unique_ptr<KeyService> keys = Open(nss);
  Result<std::vector<KeyInfo>> listed = keys->ListKeys();
  REQUIRE(listed.ok());
  CHECK(listed->empty());
}

}  // namespace
}  // namespace escrow::hsm
