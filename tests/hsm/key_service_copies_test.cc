// KeyService runs its crypto on session copies of the token keys (softhsm_key_service.h). These
// tests look at the copies through a second session of the same process, as any code in the
// process could, and destroy token keys behind the service's back, as another process would.
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "base/bytes.h"
#include "hsm/key_objects.h"
#include "hsm/key_service.h"
#include "hsm/pkcs11_module.h"
#include "hsm/pkcs11_session.h"
#include "hsm/token_slots.h"
#include "tests/hsm/key_service_fixture.h"
#include "tests/support/softhsm_token.h"

namespace escrow::hsm {
namespace {

using escrow::testing::RunCommand;
using escrow::testing::SoftHsmToken;

constexpr std::array<std::uint8_t, 4> kPlaintext = {'r', 'k', '-', '1'};
constexpr std::array<std::uint8_t, 3> kAad = {'a', 'a', 'd'};

// A second logged-in session on the fixture's token, in this process.
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

// The session copies the service holds on the token, as any session of the process sees them.
std::vector<CK_OBJECT_HANDLE> SessionCopies(Pkcs11Session& observer) {
  CK_BBOOL no = CK_FALSE;
  std::string label(kSessionCopyLabel);
  CK_ATTRIBUTE attrs[] = {{CKA_TOKEN, &no, sizeof no}, {CKA_LABEL, label.data(), label.size()}};
  Result<std::vector<CK_OBJECT_HANDLE>> found = FindObjects(observer, attrs);
  REQUIRE(found.ok());
  return *found;
}

bool BoolAttribute(Pkcs11Session& observer, CK_OBJECT_HANDLE object, CK_ATTRIBUTE_TYPE type) {
  CK_BBOOL value = CK_FALSE;
  CK_ATTRIBUTE attr{type, &value, sizeof value};
  REQUIRE(observer.fns()->C_GetAttributeValue(observer.handle(), object, &attr, 1) == CKR_OK);
  return value == CK_TRUE;
}

// Deletes a token object from another process, as an operator with the PIN could.
void DeleteWithPkcs11Tool(const SoftHsmToken& token, const std::string& label) {
  std::string out;
  const int rc =
      RunCommand(SoftHsmToken::ShellEnv() + "pkcs11-tool --module " + token.module_path() +
                     " --token-label '" + token.label() + "' --login --pin '" + token.pin() +
                     "' --delete-object --type secrkey --label " + label + " 2>&1",
                 &out);
  INFO(out);
  REQUIRE(rc == 0);
}

TEST_CASE("Crypto runs on session copies as sensitive and as unextractable as the token keys",
          "[hsm][copies]") {
  ESCROW_SKIP_ON_NSS(
      "its copies lose protections, so the vault makes none (key_service_nss_test.cc)");
  SoftHsmToken token;
  Pkcs11Session observer = Observer(token);
  {
    std::unique_ptr<KeyService> keys = OpenWithKeys(token);
    CHECK(SessionCopies(observer).empty());  // made on first use, not at generation
    Result<Sealed> sealed = keys->Encrypt(1, kPlaintext, kAad);
    REQUIRE(sealed.ok());
    REQUIRE(keys->Sign(hsm::KeyRole::kAudit, 1, kAad).ok());
    REQUIRE(keys->Decrypt(1, *sealed, kAad).ok());

    const std::vector<CK_OBJECT_HANDLE> copies = SessionCopies(observer);
    REQUIRE(copies.size() == 2);  // one per key, however often used
    for (const CK_OBJECT_HANDLE copy : copies) {
      CHECK(BoolAttribute(observer, copy, CKA_SENSITIVE));
      CHECK_FALSE(BoolAttribute(observer, copy, CKA_EXTRACTABLE));
      CHECK(BoolAttribute(observer, copy, CKA_NEVER_EXTRACTABLE));
      CHECK(BoolAttribute(observer, copy, CKA_PRIVATE));
      std::vector<CK_BYTE> value(64);
      CK_ATTRIBUTE attr{CKA_VALUE, value.data(), value.size()};
      CHECK(observer.fns()->C_GetAttributeValue(observer.handle(), copy, &attr, 1) ==
            CKR_ATTRIBUTE_SENSITIVE);
    }
    // FindKey and ListKeys describe the token keys, never the copies.
    Result<std::vector<KeyInfo>> listed = keys->ListKeys();
    REQUIRE(listed.ok());
    CHECK(listed->size() == 2);

    // DestroyKey takes the copy with the token key, at once.
    REQUIRE(keys->DestroyKey(KeyRole::kMaster, 1).ok());
    CHECK(SessionCopies(observer).size() == 1);
    CHECK(keys->Encrypt(1, kPlaintext, kAad).status().code() == Code::kNotFound);
    CHECK(keys->Decrypt(1, *sealed, kAad).status().code() == Code::kNotFound);
  }
  // The service's session closed, and its copies with it.
  CHECK(SessionCopies(observer).empty());
}

TEST_CASE("A backup-capable key's copy keeps its wrap-with-trusted restriction", "[hsm][copies]") {
  ESCROW_SKIP_ON_NSS(
      "its copies lose protections, so the vault makes none (key_service_nss_test.cc)");
  SoftHsmToken token;
  Pkcs11Session observer = Observer(token);
  std::unique_ptr<KeyService> keys = OpenKeys(token);
  REQUIRE(keys->GenerateKey(KeyRole::kMaster, 1, true).ok());
  REQUIRE(keys->Encrypt(1, kPlaintext, kAad).ok());
  const std::vector<CK_OBJECT_HANDLE> copies = SessionCopies(observer);
  REQUIRE(copies.size() == 1);
  CHECK(BoolAttribute(observer, copies.front(), CKA_SENSITIVE));
  CHECK(BoolAttribute(observer, copies.front(), CKA_WRAP_WITH_TRUSTED));
  // The token key is what FindKey describes: extractable only under a trusted key.
  Result<KeyInfo> info = keys->FindKey(KeyRole::kMaster, 1);
  REQUIRE(info.ok());
  CHECK(info->extractable);
}

TEST_CASE("A key deleted by another process stops working within the recheck interval",
          "[hsm][copies]") {
  ESCROW_SKIP_ON_NSS("pkcs11-tool cannot pass init_args");
  SoftHsmToken token;
  std::unique_ptr<KeyService> keys = OpenWithKeys(token);
  Pkcs11Session observer = Observer(token);
  Result<Sealed> sealed = keys->Encrypt(1, kPlaintext, kAad);
  REQUIRE(sealed.ok());
  REQUIRE(keys->Sign(hsm::KeyRole::kAudit, 1, kAad).ok());

  DeleteWithPkcs11Tool(token, "escrow-master-v1");
  testing::WaitPastKeyRecheck();
  CHECK(keys->Encrypt(1, kPlaintext, kAad).status().code() == Code::kNotFound);
  CHECK(keys->Decrypt(1, *sealed, kAad).status().code() == Code::kNotFound);
  CHECK(keys->Probe(1).code() == Code::kNotFound);
  CHECK(SessionCopies(observer).size() == 1);             // the master key's copy is gone
  CHECK(keys->Sign(hsm::KeyRole::kAudit, 1, kAad).ok());  // the audit key is untouched

  SECTION("a key re-created under the label is used from then on") {
    REQUIRE(keys->GenerateKey(KeyRole::kMaster, 1, false).ok());
    Result<Sealed> fresh = keys->Encrypt(1, kPlaintext, kAad);
    REQUIRE(fresh.ok());
    CHECK(keys->Decrypt(1, *fresh, kAad).ok());
    // The old record was sealed under the deleted key: the new key cannot open it.
    CHECK(keys->Decrypt(1, *sealed, kAad).status().code() == Code::kDataLoss);
  }
}

}  // namespace
}  // namespace escrow::hsm
