#include "hsm/key_backup.h"

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>
#include <openssl/rand.h>

#include "tests/hsm/key_service_fixture.h"
#include "tests/hsm/pkcs11_tool.h"
#include "tests/support/softhsm_token.h"

namespace escrow::hsm {
namespace {

using escrow::testing::RunCommand;
using escrow::testing::SoftHsmToken;

// The fixture's SO PIN: "so-pin-<n>" for the label "escrow-test-<pid>-<n>".
SecretBytes SoPin(const SoftHsmToken& token) {
  return SecretBytes::CopyOf("so-pin-" + token.label().substr(token.label().rfind('-') + 1));
}

SecretBytes RandomKey() {
  SecretBytes key(kCeremonyKeyBytes);
  REQUIRE(RAND_bytes(key.mutable_span().data(), static_cast<int>(key.size())) == 1);
  return key;
}

struct Original {
  Sealed sealed;
  Mac mac{};
  std::vector<KeyInfo> infos;
};

constexpr std::string_view kPlain = "ABCD-EFGH-IJKL-MNOP-QRST-UVWX";
constexpr std::string_view kAad = "aad";

// Generates master v1, v2 and audit v1, seals one record and MACs one message; closes the
// KeyService (its login would make the SO login of WrapVaultKeys fail).
Original MakeKeys(const SoftHsmToken& token, bool backup_capable) {
  std::unique_ptr<KeyService> keys = OpenKeys(token);
  REQUIRE(keys->GenerateKey(KeyRole::kMaster, 1, backup_capable).ok());
  REQUIRE(keys->GenerateKey(KeyRole::kMaster, 2, backup_capable).ok());
  REQUIRE(keys->GenerateKey(KeyRole::kAudit, 1, backup_capable).ok());
  Original o;
  Result<Sealed> sealed = keys->Encrypt(2, AsBytes(kPlain), AsBytes(kAad));
  REQUIRE(sealed.ok());
  o.sealed = *sealed;
  Result<Mac> mac = keys->Sign(hsm::KeyRole::kAudit, 1, AsBytes(kAad));
  REQUIRE(mac.ok());
  o.mac = *mac;
  Result<std::vector<KeyInfo>> infos = keys->ListKeys();
  REQUIRE(infos.ok());
  o.infos = *infos;
  return o;
}

TEST_CASE("Backup-capable keys wrap under a trusted ceremony key and unwrap into a fresh token",
          "[hsm][backup]") {
  ESCROW_SKIP_ON_NSS("no SO login: backup is refused (key_service_nss_test.cc)");
  SoftHsmToken source;
  const Original original = MakeKeys(source, true);
  const SecretBytes user_pin = SecretBytes::CopyOf(source.pin());
  const SecretBytes so_pin = SoPin(source);
  const SecretBytes ceremony = RandomKey();

  Result<std::vector<WrappedKey>> wrapped =
      WrapVaultKeys({source.module_path(), source.label(), &user_pin, &so_pin}, ceremony);
  INFO(wrapped.status().ToString());
  REQUIRE(wrapped.ok());
  REQUIRE(wrapped->size() == 3);
  for (std::size_t i = 0; i < wrapped->size(); ++i) {
    const WrappedKey& k = (*wrapped)[i];
    CHECK(k.label == original.infos[i].label);
    CHECK(k.check_value == original.infos[i].check_value);
    CHECK(k.check_value.size() == 6);
    CHECK(std::string(k.id.begin(), k.id.end()) == k.label);
    CHECK(k.wrapped.size() == 40);  // RFC 5649: 32 bytes + 8 of integrity check
    // SoftHSMv2 2.6 offers no CKM_AES_KEY_WRAP_KWP; its CKM_AES_KEY_WRAP_PAD is found to be
    // RFC 5649 by the known-answer unwrap, and recorded.
    CHECK(k.wrap == WrapMethod{WrapMechanism::kAesKeyWrapPad, WrapPadding::kRfc5649});
  }

  // The ceremony key was a session object: nothing of it is left on the token.
  std::string listing;
  REQUIRE(RunCommand(SoftHsmToken::ShellEnv() + "pkcs11-tool --module " + source.module_path() +
                         " --token-label '" + source.label() + "' --login --pin '" + source.pin() +
                         "' -O 2>&1",
                     &listing) == 0);
  CHECK(listing.find("escrow-ceremony") == std::string::npos);
  CHECK(listing.find("escrow-master-v2") != std::string::npos);

  SoftHsmToken target;
  const SecretBytes target_pin = SecretBytes::CopyOf(target.pin());
  const TokenLogin target_login{target.module_path(), target.label(), &target_pin, nullptr};

  SECTION("keys recorded as wrapped by a padding this module does not unwrap are refused first") {
    // As NSS's softoken wraps with CKM_AES_KEY_WRAP_PAD: PKCS#7 padding, then RFC 3394.
    std::vector<WrappedKey> other = *wrapped;
    for (WrappedKey& k : other) {
      k.wrap = WrapMethod{WrapMechanism::kAesKeyWrapPad, WrapPadding::kPkcs7ThenRfc3394};
    }
    const Status s = UnwrapVaultKeys(target_login, ceremony, other);
    INFO(s.ToString());
    CHECK(s.code() == Code::kFailedPrecondition);
    CHECK_THAT(s.message(), Catch::Contains("PKCS#7") && Catch::Contains("nothing was changed"));
    std::unique_ptr<KeyService> keys = OpenKeys(target);
    Result<std::vector<KeyInfo>> infos = keys->ListKeys();
    REQUIRE(infos.ok());
    CHECK(infos->empty());
  }
  SECTION("the restored keys decrypt, verify and keep their attributes") {
    Status s = UnwrapVaultKeys(target_login, ceremony, *wrapped);
    INFO(s.ToString());
    REQUIRE(s.ok());
    std::unique_ptr<KeyService> keys = OpenKeys(target);
    Result<SecretBytes> plain = keys->Decrypt(2, original.sealed, AsBytes(kAad));
    REQUIRE(plain.ok());
    CHECK(plain->RevealSecretText() == kPlain);
    CHECK(keys->Verify(hsm::KeyRole::kAudit, 1, AsBytes(kAad), original.mac).ok());
    Result<std::vector<KeyInfo>> infos = keys->ListKeys();
    REQUIRE(infos.ok());
    REQUIRE(infos->size() == 3);
    for (std::size_t i = 0; i < infos->size(); ++i) {
      CHECK((*infos)[i].label == original.infos[i].label);
      CHECK((*infos)[i].check_value == original.infos[i].check_value);
      CHECK((*infos)[i].sensitive);
      CHECK((*infos)[i].extractable);  // still backup-capable, still only under a trusted key
    }
    SECTION("a token that holds vault keys is refused") {
      keys.reset();
      Status again = UnwrapVaultKeys(target_login, ceremony, *wrapped);
      CHECK(again.code() == Code::kFailedPrecondition);
    }
  }

  SECTION("a wrong ceremony key fails and leaves the token empty") {
    const SecretBytes wrong = RandomKey();
    Status s = UnwrapVaultKeys(target_login, wrong, *wrapped);
    CHECK(s.code() == Code::kDataLoss);
    std::unique_ptr<KeyService> keys = OpenKeys(target);
    Result<std::vector<KeyInfo>> infos = keys->ListKeys();
    REQUIRE(infos.ok());
    CHECK(infos->empty());
  }

  SECTION("a flipped bit in the last wrapped key fails and removes the ones already restored") {
    std::vector<WrappedKey> damaged = *wrapped;
    damaged.back().wrapped[7] ^= 0x01;
    Status s = UnwrapVaultKeys(target_login, ceremony, damaged);
    CHECK(s.code() == Code::kDataLoss);
    std::unique_ptr<KeyService> keys = OpenKeys(target);
    Result<std::vector<KeyInfo>> infos = keys->ListKeys();
    REQUIRE(infos.ok());
    CHECK(infos->empty());
  }
}

TEST_CASE("Keys made without backup-capable are never wrapped", "[hsm][backup]") {
  ESCROW_SKIP_ON_NSS("no SO login: backup is refused (key_service_nss_test.cc)");
  SoftHsmToken token;
  MakeKeys(token, false);
  const SecretBytes user_pin = SecretBytes::CopyOf(token.pin());
  const SecretBytes so_pin = SoPin(token);
  Result<std::vector<WrappedKey>> wrapped =
      WrapVaultKeys({token.module_path(), token.label(), &user_pin, &so_pin}, RandomKey());
  CHECK(wrapped.status().code() == Code::kFailedPrecondition);
  CHECK(wrapped.status().message().find("backup-capable") != std::string::npos);
}

TEST_CASE("Wrapping needs the right SO PIN", "[hsm][backup]") {
  ESCROW_SKIP_ON_NSS("no SO login: backup is refused (key_service_nss_test.cc)");
  SoftHsmToken token;
  MakeKeys(token, true);
  const SecretBytes user_pin = SecretBytes::CopyOf(token.pin());
  const SecretBytes so_pin = SecretBytes::CopyOf("not-the-so-pin");
  Result<std::vector<WrappedKey>> wrapped =
      WrapVaultKeys({token.module_path(), token.label(), &user_pin, &so_pin}, RandomKey());
  CHECK(wrapped.status().code() == Code::kUnauthenticated);
}

// The labels and check values on a token, as "label check" lines.
std::vector<std::string> KeysOn(const SoftHsmToken& token) {
  std::unique_ptr<KeyService> keys = OpenKeys(token);
  Result<std::vector<KeyInfo>> infos = keys->ListKeys();
  REQUIRE(infos.ok());
  std::vector<std::string> out;
  for (const KeyInfo& info : *infos) out.push_back(info.label + " " + info.check_value);
  return out;
}

// The keys of `all` whose labels are not in `without`.
std::vector<WrappedKey> Without(const std::vector<WrappedKey>& all,
                                const std::vector<std::string>& without) {
  std::vector<WrappedKey> out;
  for (const WrappedKey& k : all) {
    if (std::find(without.begin(), without.end(), k.label) == without.end()) out.push_back(k);
  }
  return out;
}

TEST_CASE(
    "Every key role and version is wrapped, and ImportMissingVaultKeys imports only what a "
    "token lacks",
    "[hsm][backup]") {
  ESCROW_SKIP_ON_NSS("no SO login, and one database per process (two tokens)");
  SoftHsmToken source;
  const Original original = MakeKeys(source, true);  // master v1, v2; audit v1
  Mac state_mac{};
  {
    std::unique_ptr<KeyService> keys = OpenKeys(source);
    REQUIRE(keys->GenerateKey(KeyRole::kFingerprint, 1, true).ok());
    REQUIRE(keys->GenerateKey(KeyRole::kState, 1, true).ok());
    REQUIRE(keys->GenerateKey(KeyRole::kState, 2, true).ok());
    Result<Mac> mac = keys->Sign(KeyRole::kState, 2, AsBytes(kAad));
    REQUIRE(mac.ok());
    state_mac = *mac;
  }
  const SecretBytes user_pin = SecretBytes::CopyOf(source.pin());
  const SecretBytes so_pin = SoPin(source);
  const SecretBytes ceremony = RandomKey();
  Result<std::vector<WrappedKey>> wrapped =
      WrapVaultKeys({source.module_path(), source.label(), &user_pin, &so_pin}, ceremony);
  INFO(wrapped.status().ToString());
  REQUIRE(wrapped.ok());
  std::vector<std::string> labels;
  for (const WrappedKey& k : *wrapped) labels.push_back(k.label);
  CHECK(labels == std::vector<std::string>{"escrow-master-v1", "escrow-master-v2",
                                           "escrow-audit-v1", "escrow-fingerprint-v1",
                                           "escrow-state-v1", "escrow-state-v2"});
  for (const WrappedKey& k : *wrapped) CHECK(k.label == VaultKeyLabel(k.role, k.version));

  // A node that followed the vault until before escrow-master-v2 and escrow-state-v2.
  SoftHsmToken target;
  const SecretBytes target_pin = SecretBytes::CopyOf(target.pin());
  const TokenLogin target_login{target.module_path(), target.label(), &target_pin, nullptr};
  const std::vector<std::string> later = {"escrow-master-v2", "escrow-state-v2"};
  REQUIRE(UnwrapVaultKeys(target_login, ceremony, Without(*wrapped, later)).ok());

  SECTION("the missing versions are imported, the others left alone; then nothing is left") {
    Result<KeyImport> import = ImportMissingVaultKeys(target_login, ceremony, *wrapped);
    INFO(import.status().ToString());
    REQUIRE(import.ok());
    CHECK(import->imported == later);
    CHECK(import->present == std::vector<std::string>{"escrow-master-v1", "escrow-audit-v1",
                                                      "escrow-fingerprint-v1", "escrow-state-v1"});
    CHECK(KeysOn(target) == KeysOn(source));
    {
      std::unique_ptr<KeyService> keys = OpenKeys(target);
      Result<SecretBytes> plain = keys->Decrypt(2, original.sealed, AsBytes(kAad));
      REQUIRE(plain.ok());
      CHECK(plain->RevealSecretText() == kPlain);
      CHECK(keys->Verify(KeyRole::kState, 2, AsBytes(kAad), state_mac).ok());
    }
    Result<KeyImport> again = ImportMissingVaultKeys(target_login, ceremony, *wrapped);
    REQUIRE(again.ok());
    CHECK(again->imported.empty());
    CHECK(again->present.size() == 6);
  }
  SECTION("another key under a label the backup has is refused by name, and nothing imported") {
    {
      std::unique_ptr<KeyService> keys = OpenKeys(target);
      REQUIRE(keys->DestroyKey(KeyRole::kFingerprint, 1).ok());
      REQUIRE(keys->GenerateKey(KeyRole::kFingerprint, 1, true).ok());  // the node's own
    }
    const std::vector<std::string> before = KeysOn(target);
    Result<KeyImport> import = ImportMissingVaultKeys(target_login, ceremony, *wrapped);
    CHECK(import.status().code() == Code::kFailedPrecondition);
    CHECK_THAT(import.status().message(), Catch::Contains("escrow-fingerprint-v1"));
    CHECK_THAT(import.status().message(), Catch::Contains("not the same key"));
    CHECK(KeysOn(target) == before);
  }
  SECTION("another object under a missing key's label is refused, and nothing imported") {
    const std::string path = target.WriteFile("squatter", "not a key");
    std::string out;
    REQUIRE(Pkcs11Tool(target,
                       "--write-object " + path + " --type data --label escrow-state-v2 --private",
                       &out) == 0);
    const std::vector<std::string> before = KeysOn(target);
    Result<KeyImport> import = ImportMissingVaultKeys(target_login, ceremony, *wrapped);
    CHECK(import.status().code() == Code::kFailedPrecondition);
    CHECK_THAT(import.status().message(), Catch::Contains("escrow-state-v2"));
    CHECK(KeysOn(target) == before);
  }
  SECTION("a wrong ceremony key imports nothing") {
    Result<KeyImport> import = ImportMissingVaultKeys(target_login, RandomKey(), *wrapped);
    CHECK(import.status().code() == Code::kDataLoss);
    CHECK(KeysOn(target).size() == 4);
  }
}

TEST_CASE("Wrap methods parse only as modules use them", "[hsm][backup]") {
  CHECK(ParseWrapMethod("CKM_AES_KEY_WRAP_PAD", "rfc5649") ==
        WrapMethod{WrapMechanism::kAesKeyWrapPad, WrapPadding::kRfc5649});
  CHECK(ParseWrapMethod("CKM_AES_KEY_WRAP_PAD", "pkcs7-rfc3394") ==
        WrapMethod{WrapMechanism::kAesKeyWrapPad, WrapPadding::kPkcs7ThenRfc3394});
  CHECK(ParseWrapMethod("CKM_AES_KEY_WRAP_KWP", "rfc5649") ==
        WrapMethod{WrapMechanism::kAesKeyWrapKwp, WrapPadding::kRfc5649});
  CHECK_FALSE(ParseWrapMethod("CKM_AES_KEY_WRAP_KWP", "pkcs7-rfc3394"));  // KWP is RFC 5649
  CHECK_FALSE(ParseWrapMethod("CKM_AES_KEY_WRAP", "rfc5649"));
  CHECK_FALSE(ParseWrapMethod("CKM_AES_KEY_WRAP_PAD", ""));
  for (const WrapMechanism m : {WrapMechanism::kAesKeyWrapPad, WrapMechanism::kAesKeyWrapKwp}) {
    CHECK(ParseWrapMethod(WrapMechanismName(m), "rfc5649")->mechanism == m);
  }
}

}  // namespace
}  // namespace escrow::hsm
