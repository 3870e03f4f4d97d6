#pragma once

// Opening a KeyService on a test token, shared by the [hsm] tests.

#include <catch2/catch.hpp>

#include <memory>

#include "hsm/key_service.h"
#include "tests/support/softhsm_token.h"

// Under ESCROW_TEST_PKCS11=nss (tests/support/softhsm_token.h) a test of something NSS's softoken
// does not have (SoftHSMv2's files, pkcs11-tool, an SO, data objects) says why and passes
// without running: Catch2 v2 has no skip.
#define ESCROW_SKIP_ON_NSS(why)                                              \
  do {                                                                       \
    if (::escrow::testing::SoftHsmToken::UsesNss()) {                        \
      WARN("SKIPPED on NSS's softoken (ESCROW_TEST_PKCS11=nss): " << (why)); \
      return;                                                                \
    }                                                                        \
  } while (false)

namespace escrow::hsm {

// The token's KeyService; the test fails if it cannot be opened.
inline std::unique_ptr<KeyService> OpenKeys(const testing::SoftHsmToken& token) {
  Result<std::unique_ptr<KeyService>> keys = KeyService::Open(token.config());
  INFO(keys.status().ToString());
  REQUIRE(keys.ok());
  return std::move(keys).value();
}

// OpenKeys, with master and audit keys version 1 generated (not backup-capable).
inline std::unique_ptr<KeyService> OpenWithKeys(const testing::SoftHsmToken& token) {
  std::unique_ptr<KeyService> keys = OpenKeys(token);
  REQUIRE(keys->GenerateKey(KeyRole::kMaster, 1, false).ok());
  REQUIRE(keys->GenerateKey(KeyRole::kAudit, 1, false).ok());
  return keys;
}

}  // namespace escrow::hsm
