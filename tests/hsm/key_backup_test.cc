#include "hsm/key_backup.h"

#include <string>
#include <string_view>

#include <catch2/catch.hpp>
#include <openssl/rand.h>

#include "tests/hsm/key_service_fixture.h"
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
  SoftHsmToken token;
  MakeKeys(token, true);
  const SecretBytes user_pin = SecretBytes::CopyOf(token.pin());
  const SecretBytes so_pin = SecretBytes::CopyOf("not-the-so-pin");
  Result<std::vector<WrappedKey>> wrapped =
      WrapVaultKeys({token.module_path(), token.label(), &user_pin, &so_pin}, RandomKey());
  CHECK(wrapped.status().code() == Code::kUnauthenticated);
}

}  // namespace
}  // namespace escrow::hsm
