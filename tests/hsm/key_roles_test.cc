// The second release's key roles on a real token: escrow-fingerprint-v<N> and escrow-state-v<N>
// are HMAC keys like the audit key, each with one job (DESIGN.md, "Every key has one job"):
// generated, found, listed and destroyed like the others, MACs that never cross roles, the
// master key never MACs, and the token's own attributes say sign/verify only.

#include <array>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "hsm/key_objects.h"
#include "hsm/key_service.h"
#include "hsm/pkcs11_module.h"
#include "hsm/pkcs11_session.h"
#include "hsm/token_slots.h"
#include "tests/hsm/key_service_fixture.h"
#include "tests/hsm/pkcs11_tool.h"
#include "tests/support/softhsm_token.h"

namespace escrow::hsm {
namespace {

using escrow::testing::SoftHsmToken;

constexpr std::array<std::uint8_t, 5> kData = {'d', 'e', 'v', '-', '1'};

// A second logged-in session on the fixture's token, to read attributes as any client could.
Pkcs11Session Observer(const SoftHsmToken& token) {
  Result<std::shared_ptr<Pkcs11Module>> module =
      Pkcs11Module::Acquire(token.module_path(), token.init_args());
  REQUIRE(module.ok());
  Result<CK_SLOT_ID> slot = FindTokenSlot(**module, token.label());
  REQUIRE(slot.ok());
  Result<Pkcs11Session> session = Pkcs11Session::Open(*module, *slot, true);
  REQUIRE(session.ok());
  REQUIRE(session->Login(CKU_USER, SecretBytes::CopyOf(token.pin())).ok());
  return std::move(session).value();
}

bool BoolAttribute(Pkcs11Session& observer, CK_OBJECT_HANDLE object, CK_ATTRIBUTE_TYPE type) {
  CK_BBOOL value = CK_FALSE;
  CK_ATTRIBUTE attr{type, &value, sizeof value};
  REQUIRE(observer.fns()->C_GetAttributeValue(observer.handle(), object, &attr, 1) == CKR_OK);
  return value == CK_TRUE;
}

CK_KEY_TYPE KeyType(Pkcs11Session& observer, CK_OBJECT_HANDLE object) {
  CK_KEY_TYPE type = 0;
  CK_ATTRIBUTE attr{CKA_KEY_TYPE, &type, sizeof type};
  REQUIRE(observer.fns()->C_GetAttributeValue(observer.handle(), object, &attr, 1) == CKR_OK);
  return type;
}

// The block pkcs11-tool -O prints for the object labelled `label`.
std::string ObjectBlock(const std::string& listing, const std::string& label) {
  const std::size_t at = listing.find("label:      " + label + "\n");
  if (at == std::string::npos) return {};
  const std::size_t start = listing.rfind("Secret Key Object", at);
  const std::size_t end = listing.find("Object;", at);
  return listing.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

TEST_CASE("KeyService generates, finds, lists and destroys fingerprint and state keys",
          "[hsm][keys][roles]") {
  SoftHsmToken token;
  std::unique_ptr<KeyService> keys = OpenWithKeys(token);  // master v1, audit v1
  for (const KeyRole role : {KeyRole::kFingerprint, KeyRole::kState}) {
    for (const std::uint32_t version : {1U, 2U}) {
      Result<KeyInfo> made = keys->GenerateKey(role, version, false);
      INFO(made.status().ToString());
      REQUIRE(made.ok());
      CHECK(made->role == role);
      CHECK(made->version == version);
      CHECK(made->check_value.size() == 6);
      CHECK(made->sensitive);
      CHECK_FALSE(made->extractable);
      Result<KeyInfo> found = keys->FindKey(role, version);
      REQUIRE(found.ok());
      CHECK(found->label == made->label);
      CHECK(found->check_value == made->check_value);
    }
  }
  CHECK(keys->GenerateKey(KeyRole::kState, 1, false).status().code() == Code::kAlreadyExists);

  Result<std::vector<KeyInfo>> list = keys->ListKeys();
  REQUIRE(list.ok());
  std::vector<std::string> labels;
  for (const KeyInfo& info : *list) labels.push_back(info.label);
  CHECK(labels == std::vector<std::string>{"escrow-master-v1", "escrow-audit-v1",
                                           "escrow-fingerprint-v1", "escrow-fingerprint-v2",
                                           "escrow-state-v1", "escrow-state-v2"});

  REQUIRE(keys->Sign(KeyRole::kFingerprint, 2, kData).ok());  // cached on the lane
  CHECK(keys->DestroyKey(KeyRole::kFingerprint, 2).ok());
  CHECK(keys->FindKey(KeyRole::kFingerprint, 2).status().code() == Code::kNotFound);
  CHECK(keys->Sign(KeyRole::kFingerprint, 2, kData).status().code() == Code::kNotFound);
  CHECK(keys->DestroyKey(KeyRole::kFingerprint, 2).code() == Code::kNotFound);
  CHECK(keys->FindKey(KeyRole::kFingerprint, 1).ok());  // the other version stays
  CHECK(keys->DestroyKey(KeyRole::kState, 2).ok());
  Result<std::vector<KeyInfo>> after = keys->ListKeys();
  REQUIRE(after.ok());
  CHECK(after->size() == 4);
}

TEST_CASE("A MAC under one key role never verifies under another, and the master key never MACs",
          "[hsm][keys][roles]") {
  SoftHsmToken token;
  std::unique_ptr<KeyService> keys = OpenWithKeys(token);
  REQUIRE(keys->GenerateKey(KeyRole::kFingerprint, 1, false).ok());
  REQUIRE(keys->GenerateKey(KeyRole::kState, 1, false).ok());

  Result<Mac> fingerprint = keys->Sign(KeyRole::kFingerprint, 1, kData);
  Result<Mac> state = keys->Sign(KeyRole::kState, 1, kData);
  Result<Mac> audit = keys->Sign(KeyRole::kAudit, 1, kData);
  REQUIRE(fingerprint.ok());
  REQUIRE(state.ok());
  REQUIRE(audit.ok());
  CHECK(*fingerprint != *audit);
  CHECK(*fingerprint != *state);
  CHECK(*state != *audit);

  CHECK(keys->Verify(KeyRole::kFingerprint, 1, kData, *fingerprint).ok());
  CHECK(keys->Verify(KeyRole::kState, 1, kData, *state).ok());
  // A fingerprint key cannot stand in for the audit key, nor the state key for either.
  CHECK(keys->Verify(KeyRole::kAudit, 1, kData, *fingerprint).code() == Code::kDataLoss);
  CHECK(keys->Verify(KeyRole::kState, 1, kData, *fingerprint).code() == Code::kDataLoss);
  CHECK(keys->Verify(KeyRole::kFingerprint, 1, kData, *state).code() == Code::kDataLoss);
  CHECK(keys->Verify(KeyRole::kAudit, 1, kData, *state).code() == Code::kDataLoss);
  // The same role, other data.
  const std::vector<std::uint8_t> other = {'d', 'e', 'v', '-', '2'};
  CHECK(keys->Verify(KeyRole::kFingerprint, 1, other, *fingerprint).code() == Code::kDataLoss);

  Result<Mac> master = keys->Sign(KeyRole::kMaster, 1, kData);
  CHECK(master.status().code() == Code::kInvalidArgument);
  CHECK(keys->Verify(KeyRole::kMaster, 1, kData, *audit).code() == Code::kInvalidArgument);
  // Refused before the token is asked: also for a master version that does not exist.
  CHECK(keys->Sign(KeyRole::kMaster, 9, kData).status().code() == Code::kInvalidArgument);
}

TEST_CASE("Fingerprint and state keys are generic secrets that only sign and verify",
          "[hsm][keys][roles]") {
  ESCROW_SKIP_ON_NSS("pkcs11-tool cannot pass init_args");
  SoftHsmToken token;
  {
    std::unique_ptr<KeyService> keys = OpenKeys(token);
    REQUIRE(keys->GenerateKey(KeyRole::kFingerprint, 1, false).ok());
    REQUIRE(keys->GenerateKey(KeyRole::kState, 1, true).ok());
    REQUIRE(keys->GenerateKey(KeyRole::kState, 2, false).ok());
  }
  Pkcs11Session observer = Observer(token);
  for (const auto& [role, version, backup_capable] :
       {std::tuple{KeyRole::kFingerprint, 1U, false}, std::tuple{KeyRole::kState, 1U, true},
        std::tuple{KeyRole::kState, 2U, false}}) {
    INFO(KeyLabel(role, version));
    Result<CK_OBJECT_HANDLE> key = FindKeyObject(observer, role, version);
    REQUIRE(key.ok());
    CHECK(KeyType(observer, *key) == CKK_GENERIC_SECRET);
    CHECK(BoolAttribute(observer, *key, CKA_SIGN));
    CHECK(BoolAttribute(observer, *key, CKA_VERIFY));
    for (const CK_ATTRIBUTE_TYPE never :
         {CKA_ENCRYPT, CKA_DECRYPT, CKA_WRAP, CKA_UNWRAP, CKA_DERIVE}) {
      CHECK_FALSE(BoolAttribute(observer, *key, never));
    }
    CHECK(BoolAttribute(observer, *key, CKA_TOKEN));
    CHECK(BoolAttribute(observer, *key, CKA_PRIVATE));
    CHECK(BoolAttribute(observer, *key, CKA_SENSITIVE));
    // The master key's rule: never extractable, or (backup-capable) only under a trusted key.
    CHECK(BoolAttribute(observer, *key, CKA_EXTRACTABLE) == backup_capable);
    CHECK(BoolAttribute(observer, *key, CKA_WRAP_WITH_TRUSTED));
  }

  std::string listing;
  REQUIRE(Pkcs11Tool(token, "--list-objects --type secrkey", &listing) == 0);
  INFO(listing);
  for (const std::string label : {"escrow-fingerprint-v1", "escrow-state-v1", "escrow-state-v2"}) {
    const std::string block = ObjectBlock(listing, label);
    REQUIRE_FALSE(block.empty());
    CHECK_THAT(block, Catch::Contains("Generic secret length 32"));
    CHECK_THAT(block, Catch::Contains("Usage:      verify\n"));
    CHECK_THAT(block, !Catch::Contains("encrypt"));
    CHECK_THAT(block, !Catch::Contains("decrypt"));
    CHECK_THAT(block, !Catch::Contains("wrap"));
  }
  CHECK_THAT(ObjectBlock(listing, "escrow-state-v2"), Catch::Contains("never extractable"));
  CHECK_THAT(ObjectBlock(listing, "escrow-state-v1"), !Catch::Contains("never extractable"));
}

}  // namespace
}  // namespace escrow::hsm
