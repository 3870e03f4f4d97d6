// Apple MDM escrow certificates over HTTPS from the real vaultd (API.md, "Apple MDM escrow,
// opened inside the HSM"): the fleet certificate made by `vaultctl init --dev`, per-device
// certificates issued on request, the list, who may ask; the served PEM parsed by
// `openssl x509` and usable by `openssl cms -encrypt`.
#include <fstream>
#include <set>
#include <string>

#include <catch2/catch.hpp>

#include "tests/e2e/e2e_util.h"

namespace escrow::e2e {
namespace {

std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

std::set<std::string> Keys(const boost::json::object& o) {
  std::set<std::string> keys;
  for (const auto& kv : o) keys.insert(std::string(kv.key()));
  return keys;
}

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  REQUIRE(out.good());
}

TEST_CASE("vaultd serves escrow certificates to the mdm and admins with API.md's fields",
          "[e2e][escrow_cert]") {
  VaultProcess v;
  REQUIRE(v.Start());
  v.Enrol("mac1", "alice@example.com", "corporate");
  const std::string admin = v.Token("root@example.com", "--roles admin");
  const std::string auditor = v.Token("aud@example.com", "--roles auditor");
  const std::string helpdesk = v.Token("hd@example.com", "--roles helpdesk");

  HttpResult r = v.Mdm("GET", "/v1/escrow-certificates/current");
  REQUIRE(r.status == 200);
  const boost::json::object fleet = Json(r.body).as_object();
  CHECK(Keys(fleet) ==
        std::set<std::string>{"serial", "not_before", "not_after", "sha256", "pem", "der_base64"});
  const std::string serial(fleet.at("serial").as_string());
  CHECK(serial.size() == 32);
  CHECK(v.As(admin, "GET", "/v1/escrow-certificates/current").status == 200);
  CHECK(v.As(auditor, "GET", "/v1/escrow-certificates/current").status == 403);
  CHECK(v.As(helpdesk, "GET", "/v1/escrow-certificates/current").status == 403);

  // openssl reads what was served: the serial, the SHA-256 of the DER, keyEncipherment.
  const std::string pem = v.state() + "/fleet.pem";
  WriteText(pem, std::string(fleet.at("pem").as_string()));
  std::string out;
  REQUIRE(Sh("openssl x509 -noout -serial -fingerprint -sha256 -ext keyUsage -in " + Quote(pem),
             &out) == 0);
  CHECK_THAT(out, Catch::Contains("serial=" + Upper(serial)));
  std::string colons;
  const std::string sha(fleet.at("sha256").as_string());
  for (std::size_t i = 0; i < sha.size(); i += 2) colons += (i ? ":" : "") + sha.substr(i, 2);
  CHECK_THAT(out, Catch::Contains(Upper(colons)));
  CHECK_THAT(out, Catch::Contains("Key Encipherment"));
  const std::string der = v.state() + "/fleet.der";
  WriteText(v.state() + "/fleet.b64", std::string(fleet.at("der_base64").as_string()) + "\n");
  REQUIRE(Sh("openssl base64 -d -A -in " + Quote(v.state() + "/fleet.b64") + " -out " +
             Quote(der) + " && openssl x509 -inform DER -noout -in " + Quote(der)) == 0);
  // A Mac's envelope to it can be made (its opening in the HSM: tests/vault/escrow_cert_test).
  WriteText(v.state() + "/key.txt", kMacKey1);
  CHECK(Sh("openssl cms -encrypt -binary -aes256 -in " + Quote(v.state() + "/key.txt") +
           " -outform DER -out " + Quote(v.state() + "/key.cms") + " " + Quote(pem)) == 0);

  // A device's own certificate: issued once, then the same; its own serial; names the device.
  r = v.Mdm("GET", "/v1/devices/mac1/escrow-certificate");
  REQUIRE(r.status == 200);
  const boost::json::object device = Json(r.body).as_object();
  CHECK(Keys(device) == Keys(fleet));
  CHECK(device.at("serial") != fleet.at("serial"));
  r = v.Mdm("GET", "/v1/devices/mac1/escrow-certificate");
  REQUIRE(r.status == 200);
  CHECK(Json(r.body).at("serial") == device.at("serial"));
  const std::string device_pem = v.state() + "/device.pem";
  WriteText(device_pem, std::string(device.at("pem").as_string()));
  REQUIRE(Sh("openssl x509 -noout -subject -nameopt RFC2253 -in " + Quote(device_pem), &out) == 0);
  CHECK_THAT(out, Catch::Contains("UID=mac1"));
  CHECK(ErrCode(v.Mdm("GET", "/v1/devices/nope/escrow-certificate")) == "device_not_found");
  CHECK(v.As(admin, "GET", "/v1/devices/mac1/escrow-certificate").status == 403);

  // The list: fleet certificates only, with their state.
  r = v.As(auditor, "GET", "/v1/escrow-certificates");
  REQUIRE(r.status == 200);
  const boost::json::array certs = Json(r.body).at("certificates").as_array();
  REQUIRE(certs.size() == 1);
  CHECK(certs[0].at("serial") == fleet.at("serial"));
  CHECK(certs[0].at("state") == "current");
  CHECK(v.As(admin, "GET", "/v1/escrow-certificates").status == 200);
  CHECK(v.Mdm("GET", "/v1/escrow-certificates").status == 403);

  // The issuance is in the trail.
  r = v.As(auditor, "GET", "/v1/audit?limit=1000");
  REQUIRE(r.status == 200);
  CHECK_THAT(r.body, Catch::Contains("escrow_cert.issue_device"));
}

TEST_CASE("vaultctl upgrade gives a vault without escrow certificates the CA and a first one",
          "[e2e][escrow_cert][upgrade]") {
  VaultProcess v;
  REQUIRE(v.Start());
  const std::string before(Json(v.Mdm("GET", "/v1/escrow-certificates/current").body)
                               .at("serial")
                               .as_string());
  REQUIRE(v.Stop() == 0);
  // Back to a vault of the release before: no escrow rows (the token keeps its keys, which a
  // new certificate must not reuse).
  const std::string db = Quote(v.state() + "/vault.db");
  REQUIRE(Sh("sqlite3 " + db + " \"DELETE FROM escrow_certificates; DELETE FROM escrow_cas\"") ==
          0);
  const std::string conf = Quote(v.state() + "/vault.conf");
  std::string out;
  REQUIRE(Sh(Quote(VaultctlPath()) + " upgrade --config " + conf, &out) == 0);
  CHECK_THAT(out, Catch::Contains("escrow certificate created: serial "));
  REQUIRE(v.Start());
  HttpResult r = v.Mdm("GET", "/v1/escrow-certificates/current");
  REQUIRE(r.status == 200);
  CHECK(std::string(Json(r.body).at("serial").as_string()) != before);
  REQUIRE(v.Stop() == 0);
  out.clear();  // Sh appends
  REQUIRE(Sh(Quote(VaultctlPath()) + " upgrade --config " + conf, &out) == 0);
  CHECK_THAT(out, !Catch::Contains("escrow certificate created"));
  out.clear();
  // The new escrow key is escrow-cms-v2: v1 is still on the token, unrecorded, and unused.
  REQUIRE(Sh(Quote(VaultctlPath()) + " escrow-cert list --config " + conf, &out) == 0);
  CHECK_THAT(out, Catch::Contains("current  escrow-cms-v2"));
}

}  // namespace
}  // namespace escrow::e2e
