#include <catch2/catch.hpp>

#include <set>

#include "tests/faults/fault_util.h"
#include "tests/support/temp_dir.h"

namespace escrow::faults {
namespace {

// openssl s_client against the vault with `args`; returns its exit status and output.
int SClient(const VaultProcess& v, const std::string& args, std::string* out,
            const std::string& input = "") {
  return Sh((input.empty() ? std::string("true") : "printf " + Quote(input)) +
                " | timeout 20 openssl s_client -connect 127.0.0.1:" + std::to_string(v.port()) +
                " -servername localhost -CAfile " + Quote(v.CaFile()) + " " + args + " 2>&1",
            out);
}

TEST_CASE("TLS below 1.2 is refused", "[faults][tls]") {
  VaultProcess v;
  REQUIRE(v.Start());
  std::string out;
  CHECK(SClient(v, "-tls1_2", &out) == 0);
  INFO(out);
  CHECK(out.find("Protocol  : TLSv1.2") != std::string::npos);
  for (const char* old : {"-tls1_1", "-tls1"}) {
    // OpenSSL 3 refuses these at its default security level itself; level 0 lets it try, so
    // the refusal is the server's.
    CHECK(SClient(v, std::string(old) + " -cipher DEFAULT@SECLEVEL=0", &out) != 0);
    INFO(old << ": " << out);
    CHECK(out.find("Cipher is (NONE)") != std::string::npos);
  }
  CHECK(v.running());
}

TEST_CASE("TLS 1.3 early data is never accepted", "[faults][tls]") {
  VaultProcess v;
  REQUIRE(v.Start());
  const std::string sess = v.tmp() + "/tls13.sess";
  const std::string early = v.tmp() + "/early.txt";
  e2e::WriteFile(early, "GET /v1/health HTTP/1.1\r\nHost: localhost\r\n\r\n");
  std::string out;
  // A full handshake that reads an answer, so the server's session ticket arrives.
  SClient(v, "-tls1_3 -sess_out " + Quote(sess) + " -ign_eof", &out,
          "GET /v1/health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
  INFO(out);
  REQUIRE(testing::ReadFileBytes(sess).size() > 0);
  CHECK(out.find("Max Early Data: 0") != std::string::npos);
  SClient(v, "-tls1_3 -sess_in " + Quote(sess) + " -early_data " + Quote(early), &out);
  INFO(out);
  CHECK(out.find("Early data was accepted") == std::string::npos);
  CHECK(v.running());
}

// testssl.sh (Debian package testssl.sh) on the protocols, the standard cipher categories and
// renegotiation, within a time budget. Skipped with a warning if it is not installed.
TEST_CASE("testssl.sh finds no old protocol, weak cipher or insecure renegotiation",
          "[faults][tls][slow]") {
  if (Sh("command -v testssl >/dev/null 2>&1") != 0) {
    WARN("skipped: testssl (Debian package testssl.sh) is not installed");
    return;
  }
  VaultProcess v;
  REQUIRE(v.Start());
  const std::string json = v.tmp() + "/testssl.json";
  std::string out;
  const int rc = Sh("timeout 150 testssl --quiet --color 0 --warnings off --connect-timeout 5 "
                    "--openssl-timeout 5 --ip 127.0.0.1 --protocols --std --renegotiation "
                    "--jsonfile " + Quote(json) + " localhost:" + std::to_string(v.port()) +
                    " 2>&1",
                    &out);
  INFO(out);
  REQUIRE(rc != 124);  // finished within the budget
  const boost::json::value results = Json(testing::ReadFileBytes(json));
  REQUIRE(results.is_array());
  std::map<std::string, std::string> finding;
  for (const boost::json::value& r : results.as_array()) {
    const boost::json::object& o = r.as_object();
    const std::string id(o.at("id").as_string());
    const std::string severity(o.at("severity").as_string());
    finding[id] = std::string(o.at("finding").as_string());
    INFO(id << " " << severity << " " << finding[id]);
    CHECK(severity != "MEDIUM");
    CHECK(severity != "HIGH");
    CHECK(severity != "CRITICAL");
  }
  for (const char* id : {"SSLv2", "SSLv3", "TLS1", "TLS1_1"}) {
    INFO(id);
    REQUIRE(finding.count(id) == 1);
    CHECK(finding[id].find("not offered") != std::string::npos);
  }
  CHECK(finding["TLS1_2"].find("offered") != std::string::npos);
  CHECK(finding["TLS1_3"].find("offered") != std::string::npos);
  for (const char* id : {"cipherlist_NULL", "cipherlist_aNULL", "cipherlist_EXPORT",
                         "cipherlist_LOW", "cipherlist_3DES_IDEA"}) {
    INFO(id);
    REQUIRE(finding.count(id) == 1);
    CHECK(finding[id] == "not offered");
  }
  REQUIRE(finding.count("secure_client_renego") == 1);
  CHECK(finding["secure_client_renego"].find("not vulnerable") != std::string::npos);
  CHECK(v.running());
}

}  // namespace
}  // namespace escrow::faults
