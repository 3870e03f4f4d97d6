#pragma once

// pkcs11-tool on a test token, for the [hsm] tests that check what another PKCS#11 client sees.

#include <string>

#include <catch2/catch.hpp>

#include "tests/support/softhsm_token.h"

namespace escrow::hsm {

// Runs pkcs11-tool logged in to the fixture's token (stderr merged); its exit status.
inline int Pkcs11Tool(const testing::SoftHsmToken& token, const std::string& args,
                      std::string* out) {
  return testing::RunCommand(testing::SoftHsmToken::ShellEnv() + "pkcs11-tool --module " +
                                 token.module_path() + " --token-label '" + token.label() +
                                 "' --login --pin '" + token.pin() + "' " + args + " 2>&1",
                             out);
}

// How many data objects labelled escrow-audit-checkpoint pkcs11-tool lists on the token.
inline std::size_t ListedCheckpoints(const testing::SoftHsmToken& token) {
  std::string listing;
  REQUIRE(Pkcs11Tool(token, "--list-objects --type data", &listing) == 0);
  INFO(listing);
  std::size_t n = 0;
  for (std::size_t at = listing.find("'escrow-audit-checkpoint'"); at != std::string::npos;
       at = listing.find("'escrow-audit-checkpoint'", at + 1)) {
    ++n;
  }
  return n;
}

}  // namespace escrow::hsm
