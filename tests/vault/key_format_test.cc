#include "vault/key_format.h"

#include <catch2/catch.hpp>

#include <string>

namespace escrow::vault {
namespace {

Result<SecretBytes> Norm(Platform p, std::string_view s) {
  return NormalizeRecoveryKey(p, SecretBytes::CopyOf(s));
}

std::string Text(const Result<SecretBytes>& r) { return std::string(r->RevealSecretText()); }

TEST_CASE("FileVault keys are normalised to upper case, dashed", "[vault][format]") {
  CHECK(Text(Norm(Platform::kMacos, "ABCD-EFGH-IJKL-MNOP-QRST-UVWX")) ==
        "ABCD-EFGH-IJKL-MNOP-QRST-UVWX");
  CHECK(Text(Norm(Platform::kMacos, "abcdefghijklmnopqrst2345")) ==
        "ABCD-EFGH-IJKL-MNOP-QRST-2345");
  CHECK(Text(Norm(Platform::kMacos, "abcd-efgh-ijkl-mnop-qrst-uvwx")) ==
        "ABCD-EFGH-IJKL-MNOP-QRST-UVWX");
}

TEST_CASE("Bad FileVault keys are refused with the format hint", "[vault][format]") {
  for (const char* bad : {"", "ABCD-EFGH-IJKL-MNOP-QRST-UVW", "ABCD-EFGH-IJKL-MNOP-QRST-UVWXY",
                          "ABCDEFGHIJKLMNOPQRSTUVW", "ABCD_EFGH_IJKL_MNOP_QRST_UVWX",
                          "ABCD-EFGH-IJKL-MNOP-QRST-UVW!", "ABCDE-FGH-IJKL-MNOP-QRST-UVWX",
                          "ABCD-EFGH-IJKL-MNOP-QRSTUVWX-", "ÄBCD-EFGH-IJKL-MNOP-QRST-UVW"}) {
    INFO(bad);
    Result<SecretBytes> r = Norm(Platform::kMacos, bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().reason() == "invalid_recovery_key");
    CHECK(r.status().message().find("24 letters and digits") != std::string::npos);
  }
}

TEST_CASE("BitLocker passwords need eight groups of multiples of 11 below 720896",
          "[vault][format]") {
  const std::string good = "000000-000011-719895-123453-000022-111111-222222-333333";
  CHECK(Text(Norm(Platform::kWindows, good)) == good);
  for (const char* bad : {
           "000000-000011-719895-123453-000022-111111-222222-333334",  // not a multiple of 11
           "000000-000011-720896-123453-000022-111111-222222-333333",  // 720896 is too big
           "000000-000011-720907-123453-000022-111111-222222-333333",  // 11*65537: too big
           "000000-000011-719895-123453-000022-111111-222222",         // seven groups
           "000000000011719895123453000022111111222222333333",         // no dashes
           "000000-000011-719895-123453-000022-111111-222222-33333a",
           "000000-000011-719895-123453-000022-111111-222222-333333-"}) {
    INFO(bad);
    Result<SecretBytes> r = Norm(Platform::kWindows, bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().reason() == "invalid_recovery_key");
  }
}

TEST_CASE("LUKS passphrases: 8 to 512 bytes of UTF-8 without controls, kept exactly",
          "[vault][format]") {
  CHECK(Text(Norm(Platform::kLinux, "correct horse battery")) == "correct horse battery");
  CHECK(Text(Norm(Platform::kLinux, "Grüße aus Köln")) == "Grüße aus Köln");
  CHECK(Norm(Platform::kLinux, std::string(512, 'x')).ok());
  for (const std::string& bad :
       {std::string("short"), std::string(513, 'x'), std::string("tab\there ok"),
        std::string("newline\nhere"), std::string("del\x7f char"), std::string("bad \xff utf8"),
        std::string("overlong \xc0\xaf."), std::string("surrogate \xed\xa0\x80 x"),
        std::string("trunc \xe2\x82"), std::string("nul\0char!", 9), std::string("c1 \xc2\x85 ctl")}) {
    INFO(bad);
    Result<SecretBytes> r = Norm(Platform::kLinux, bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().reason() == "invalid_recovery_key");
  }
}

TEST_CASE("Format errors never echo the submitted key", "[vault][format]") {
  Result<SecretBytes> r = Norm(Platform::kMacos, "SECRETSECRETSECRETSECRE!");
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message().find("SECRET") == std::string::npos);
}

}  // namespace
}  // namespace escrow::vault
