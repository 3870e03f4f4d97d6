// The PKCS#11 URI (RFC 7512) that names the vault's token: parsing, refusals, matching. No
// module is loaded.

#include "hsm/pkcs11_uri.h"

#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "hsm/key_service.h"

namespace escrow::hsm {
namespace {

TEST_CASE("A PKCS#11 URI names the token by its path attributes, percent-decoded", "[hsm][uri]") {
  Result<TokenSelector> t = ParsePkcs11Uri("pkcs11:token=escrow");
  REQUIRE(t.ok());
  CHECK(t->token == "escrow");
  CHECK_FALSE(t->serial);
  CHECK(t->Describe() == "escrow");

  t = ParsePkcs11Uri(
      "pkcs11:token=NSS%20Certificate%20DB;manufacturer=Mozilla%20Foundation;"
      "serial=0000000000000000;model=NSS%203;slot-id=2");
  INFO(t.status().ToString());
  REQUIRE(t.ok());
  CHECK(t->token == "NSS Certificate DB");
  CHECK(t->manufacturer == "Mozilla Foundation");
  CHECK(t->serial == "0000000000000000");
  CHECK(t->model == "NSS 3");
  CHECK(t->slot_id == 2U);
  CHECK(t->Describe() ==
        "pkcs11:token=NSS%20Certificate%20DB;manufacturer=Mozilla%20Foundation;"
        "serial=0000000000000000;model=NSS%203;slot-id=2");

  // Attribute order is free, an empty pair is skipped, and a %3B is a ';' inside a value.
  t = ParsePkcs11Uri("pkcs11:serial=abc;;token=a%3bb%25");
  REQUIRE(t.ok());
  CHECK(t->token == "a;b%");
  CHECK(t->serial == "abc");
  CHECK(ParsePkcs11Uri(t->Describe())->token == "a;b%");

  // Serial alone (a token whose label is shared) and slot-id alone are tokens too.
  CHECK(ParsePkcs11Uri("pkcs11:serial=4d2a")->serial == "4d2a");
  CHECK(ParsePkcs11Uri("pkcs11:slot-id=0")->slot_id == 0U);
}

TEST_CASE("A PKCS#11 URI with a PIN, an object, a query or an unknown attribute is refused",
          "[hsm][uri]") {
  struct Case {
    std::string uri;
    std::string says;
  };
  for (const Case& k : std::vector<Case>{
           {"token=escrow", "must start with pkcs11:"},
           {"PKCS11:token=escrow", "must start with pkcs11:"},
           {"pkcs11:", "names no token"},
           {"pkcs11:;", "names no token"},
           {"pkcs11:token=escrow;pin-value=1234", "pin-value carries a PIN"},
           {"pkcs11:token=escrow?pin-value=1234", "pin-value carries a PIN"},
           {"pkcs11:token=escrow?pin-source=file:/p", "pin-source carries a PIN"},
           {"pkcs11:token=escrow?module-path=/x.so", "module-path names a module"},
           {"pkcs11:token=escrow?foo=1", "query part"},
           {"pkcs11:token=escrow;object=escrow-master-v1", "object names an object"},
           {"pkcs11:token=escrow;type=secret-key", "type names an object"},
           {"pkcs11:token=escrow;id=%01", "id names an object"},
           {"pkcs11:library-manufacturer=SoftHSM", "library-manufacturer is not supported"},
           {"pkcs11:token=escrow;colour=red", "unknown attribute colour"},
           {"pkcs11:token=escrow;token=other", "token given twice"},
           {"pkcs11:token=", "token is empty"},
           {"pkcs11:token", "has no '='"},
           {"pkcs11:token=a%2", "bad %-escape in token"},
           {"pkcs11:token=a%zz", "bad %-escape in token"},
           {"pkcs11:token=" + std::string(33, 'a'), "longer than 32 bytes"},
           {"pkcs11:serial=" + std::string(17, '1'), "serial is longer than 16 bytes"},
           {"pkcs11:model=" + std::string(17, 'm'), "model is longer than 16 bytes"},
           {"pkcs11:slot-id=-1", "slot-id must be a decimal number"},
           {"pkcs11:slot-id=1x", "slot-id must be a decimal number"},
           {"pkcs11:slot-id=99999999999999999999", "slot-id must be a decimal number"}}) {
    Result<TokenSelector> t = ParsePkcs11Uri(k.uri);
    INFO(k.uri);
    REQUIRE_FALSE(t.ok());
    CHECK(t.status().code() == Code::kInvalidArgument);
    CHECK_THAT(t.status().message(), Catch::Contains(k.says));
    // The refusal names the attribute, never a value that may be a PIN.
    CHECK_THAT(t.status().message(), !Catch::Contains("1234"));
  }
}

TEST_CASE("Exactly one of a token label and a token URI names the token", "[hsm][uri]") {
  CHECK(SelectToken("escrow", "")->token == "escrow");
  CHECK(SelectToken("", "pkcs11:token=escrow")->token == "escrow");
  CHECK_THAT(SelectToken("escrow", "pkcs11:token=escrow").status().message(),
             Catch::Contains("not both"));
  CHECK_THAT(SelectToken("", "").status().message(), Catch::Contains("no token"));
  CHECK(SelectToken(std::string(33, 'a'), "").status().code() == Code::kInvalidArgument);
}

TEST_CASE("A token selector matches every attribute it gives and ignores the others",
          "[hsm][uri]") {
  TokenInfo info;
  info.label = "NSS Certificate DB";
  info.manufacturer = "Mozilla Foundation";
  info.serial = "0000000000000000";
  info.model = "NSS 3";
  CHECK(ParsePkcs11Uri("pkcs11:token=NSS%20Certificate%20DB")->Matches(2, info));
  // Trailing blanks are the token's padding: a label given with them still matches.
  CHECK(ParsePkcs11Uri("pkcs11:token=NSS%20Certificate%20DB%20%20")->Matches(2, info));
  CHECK(ParsePkcs11Uri("pkcs11:model=NSS%203;slot-id=2")->Matches(2, info));
  CHECK_FALSE(ParsePkcs11Uri("pkcs11:model=NSS%203;slot-id=1")->Matches(2, info));
  CHECK_FALSE(ParsePkcs11Uri("pkcs11:token=NSS%20Certificate%20DB;serial=1")->Matches(2, info));
  CHECK_FALSE(ParsePkcs11Uri("pkcs11:token=NSS")->Matches(2, info));
}

}  // namespace
}  // namespace escrow::hsm
