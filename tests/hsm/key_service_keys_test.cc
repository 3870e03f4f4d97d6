#include <algorithm>
#include <cctype>
#include <string>

#include <catch2/catch.hpp>

#include "hsm/key_service.h"
#include "tests/hsm/key_service_fixture.h"
#include "tests/support/softhsm_token.h"

namespace escrow::hsm {
namespace {

using escrow::testing::RunCommand;
using escrow::testing::SoftHsmToken;

bool IsLowerHex6(const std::string& s) {
  return s.size() == 6 && std::all_of(s.begin(), s.end(), [](char c) {
           return std::isdigit(static_cast<unsigned char>(c)) != 0 || (c >= 'a' && c <= 'f');
         });
}

// Runs pkcs11-tool, logged in to the fixture's token, with the fixture's SoftHSMv2 config.
int Pkcs11Tool(const SoftHsmToken& token, const std::string& args, std::string* out) {
  const std::string command = SoftHsmToken::ShellEnv() + "pkcs11-tool --module " +
                              token.module_path() + " --token-label '" + token.label() +
                              "' --login --pin '" + token.pin() + "' " + args + " 2>&1";
  return RunCommand(command, out);
}

// The block pkcs11-tool -O prints for the object labelled `label`.
std::string ObjectBlock(const std::string& listing, const std::string& label) {
  const std::size_t at = listing.find("label:      " + label + "\n");
  if (at == std::string::npos) return {};
  const std::size_t start = listing.rfind("Secret Key Object", at);
  const std::size_t end = listing.find("Object;", at);
  return listing.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

TEST_CASE("KeyService generates master and audit keys and finds them again", "[hsm][keys]") {
  SoftHsmToken token;
  std::unique_ptr<KeyService> keys = OpenKeys(token);

  Result<KeyInfo> master = keys->GenerateKey(KeyRole::kMaster, 1, false);
  INFO(master.status().ToString());
  REQUIRE(master.ok());
  CHECK(master->role == KeyRole::kMaster);
  CHECK(master->version == 1);
  CHECK(master->label == "escrow-master-v1");
  CHECK(IsLowerHex6(master->check_value));
  CHECK(master->sensitive);
  CHECK_FALSE(master->extractable);

  Result<KeyInfo> audit = keys->GenerateKey(KeyRole::kAudit, 1, false);
  REQUIRE(audit.ok());
  CHECK(audit->label == "escrow-audit-v1");
  CHECK(IsLowerHex6(audit->check_value));
  CHECK(audit->sensitive);
  CHECK_FALSE(audit->extractable);

  Result<KeyInfo> found = keys->FindKey(KeyRole::kMaster, 1);
  REQUIRE(found.ok());
  CHECK(found->check_value == master->check_value);
  Result<KeyInfo> found_audit = keys->FindKey(KeyRole::kAudit, 1);
  REQUIRE(found_audit.ok());
  CHECK(found_audit->check_value == audit->check_value);
}

TEST_CASE("KeyService finds keys and decrypts records after a reopen", "[hsm][keys]") {
  SoftHsmToken token;
  const std::vector<std::uint8_t> plaintext = {'r', 'e', 'c', 'o', 'v', 'e', 'r', 'y'};
  const std::vector<std::uint8_t> aad = {'a', 'a', 'd'};
  std::string check_value;
  Sealed sealed;
  Mac mac{};
  {
    std::unique_ptr<KeyService> keys = OpenKeys(token);
    Result<KeyInfo> master = keys->GenerateKey(KeyRole::kMaster, 3, false);
    REQUIRE(master.ok());
    REQUIRE(keys->GenerateKey(KeyRole::kAudit, 2, false).ok());
    check_value = master->check_value;
    Result<Sealed> out = keys->Encrypt(3, plaintext, aad);
    REQUIRE(out.ok());
    sealed = *out;
    Result<Mac> signed_mac = keys->Sign(hsm::KeyRole::kAudit, 2, aad);
    REQUIRE(signed_mac.ok());
    mac = *signed_mac;
  }
  std::unique_ptr<KeyService> keys = OpenKeys(token);
  Result<KeyInfo> found = keys->FindKey(KeyRole::kMaster, 3);
  REQUIRE(found.ok());
  CHECK(found->check_value == check_value);
  Result<SecretBytes> opened = keys->Decrypt(3, sealed, aad);
  INFO(opened.status().ToString());
  REQUIRE(opened.ok());
  CHECK(std::equal(plaintext.begin(), plaintext.end(), opened->RevealSecret().begin(),
                   opened->RevealSecret().end()));
  CHECK(keys->Verify(hsm::KeyRole::kAudit, 2, aad, mac).ok());
}

TEST_CASE("KeyService lists the vault's keys by role then version", "[hsm][keys]") {
  SoftHsmToken token;
  std::unique_ptr<KeyService> keys = OpenKeys(token);
  REQUIRE(keys->GenerateKey(KeyRole::kAudit, 1, false).ok());
  REQUIRE(keys->GenerateKey(KeyRole::kMaster, 10, false).ok());
  REQUIRE(keys->GenerateKey(KeyRole::kMaster, 2, false).ok());
  Result<std::vector<KeyInfo>> list = keys->ListKeys();
  REQUIRE(list.ok());
  REQUIRE(list->size() == 3);
  CHECK((*list)[0].label == "escrow-master-v2");
  CHECK((*list)[1].label == "escrow-master-v10");
  CHECK((*list)[2].label == "escrow-audit-v1");
  for (const KeyInfo& info : *list) CHECK(IsLowerHex6(info.check_value));
}

TEST_CASE("KeyService answers kNotFound for a missing key version", "[hsm][keys]") {
  SoftHsmToken token;
  std::unique_ptr<KeyService> keys = OpenKeys(token);
  REQUIRE(keys->GenerateKey(KeyRole::kMaster, 1, false).ok());
  CHECK(keys->FindKey(KeyRole::kMaster, 2).status().code() == Code::kNotFound);
  // The audit key of the same version is another object.
  CHECK(keys->FindKey(KeyRole::kAudit, 1).status().code() == Code::kNotFound);
  const std::vector<std::uint8_t> data = {1};
  CHECK(keys->Encrypt(2, data, data).status().code() == Code::kNotFound);
  CHECK(keys->Sign(hsm::KeyRole::kAudit, 1, data).status().code() == Code::kNotFound);
  CHECK(keys->DestroyKey(KeyRole::kMaster, 2).code() == Code::kNotFound);
}

TEST_CASE("KeyService refuses to generate a key whose label exists", "[hsm][keys]") {
  SoftHsmToken token;
  std::unique_ptr<KeyService> keys = OpenKeys(token);
  Result<KeyInfo> first = keys->GenerateKey(KeyRole::kMaster, 1, false);
  REQUIRE(first.ok());
  Result<KeyInfo> again = keys->GenerateKey(KeyRole::kMaster, 1, true);
  REQUIRE_FALSE(again.ok());
  CHECK(again.status().code() == Code::kAlreadyExists);
  // The first key is untouched.
  Result<KeyInfo> found = keys->FindKey(KeyRole::kMaster, 1);
  REQUIRE(found.ok());
  CHECK(found->check_value == first->check_value);
  CHECK_FALSE(found->extractable);
}

TEST_CASE("KeyService destroys a key", "[hsm][keys]") {
  SoftHsmToken token;
  std::unique_ptr<KeyService> keys = OpenKeys(token);
  REQUIRE(keys->GenerateKey(KeyRole::kMaster, 1, false).ok());
  const std::vector<std::uint8_t> data = {1, 2};
  REQUIRE(keys->Encrypt(1, data, data).ok());  // caches the handle
  CHECK(keys->DestroyKey(KeyRole::kMaster, 1).ok());
  CHECK(keys->FindKey(KeyRole::kMaster, 1).status().code() == Code::kNotFound);
  CHECK(keys->Encrypt(1, data, data).status().code() == Code::kNotFound);
  // The label is free again.
  CHECK(keys->GenerateKey(KeyRole::kMaster, 1, false).ok());
}

TEST_CASE("A backup-capable key is extractable only under a trusted wrapping key", "[hsm][keys]") {
  ESCROW_SKIP_ON_NSS("pkcs11-tool cannot pass init_args");
  SoftHsmToken token;
  std::unique_ptr<KeyService> keys = OpenKeys(token);
  Result<KeyInfo> backup = keys->GenerateKey(KeyRole::kMaster, 1, true);
  REQUIRE(backup.ok());
  CHECK(backup->extractable);
  CHECK(backup->sensitive);
  Result<KeyInfo> plain = keys->GenerateKey(KeyRole::kMaster, 2, false);
  REQUIRE(plain.ok());
  CHECK_FALSE(plain->extractable);

  std::string listing;
  REQUIRE(Pkcs11Tool(token, "--list-objects --type secrkey", &listing) == 0);
  const std::string backup_block = ObjectBlock(listing, "escrow-master-v1");
  INFO(listing);
  CHECK_THAT(backup_block, Catch::Contains("sensitive"));
  CHECK_THAT(backup_block, !Catch::Contains("never extractable"));
  CHECK_THAT(ObjectBlock(listing, "escrow-master-v2"), Catch::Contains("never extractable"));
}

TEST_CASE("The master key never leaves the HSM in the clear (pkcs11-tool)", "[hsm][keys]") {
  ESCROW_SKIP_ON_NSS("pkcs11-tool cannot pass init_args");
  SoftHsmToken token;
  Result<KeyInfo> master = [&] {
    std::unique_ptr<KeyService> keys = OpenKeys(token);
    REQUIRE(keys->GenerateKey(KeyRole::kAudit, 1, false).ok());
    return keys->GenerateKey(KeyRole::kMaster, 1, false);
  }();
  REQUIRE(master.ok());

  std::string listing;
  REQUIRE(Pkcs11Tool(token, "--list-objects --type secrkey", &listing) == 0);
  INFO(listing);
  const std::string block = ObjectBlock(listing, "escrow-master-v1");
  REQUIRE_FALSE(block.empty());
  CHECK_THAT(block, Catch::Contains("AES length 32"));
  CHECK_THAT(block, Catch::Contains("sensitive"));
  CHECK_THAT(block, Catch::Contains("never extractable"));
  CHECK_THAT(block, Catch::Contains("Usage:      encrypt, decrypt\n"));
  const std::string audit_block = ObjectBlock(listing, "escrow-audit-v1");
  CHECK_THAT(audit_block, Catch::Contains("never extractable"));
  // pkcs11-tool prints only "verify" for a generic secret that can sign and verify.
  CHECK_THAT(audit_block, Catch::Contains("verify"));
  CHECK_THAT(audit_block, !Catch::Contains("encrypt"));

  std::string read_out;
  const int rc =
      Pkcs11Tool(token, "--read-object --type secrkey --label escrow-master-v1", &read_out);
  INFO(read_out);
  CHECK(rc != 0);
  CHECK_THAT(read_out, !Catch::Contains(master->check_value));
}

}  // namespace
}  // namespace escrow::hsm
