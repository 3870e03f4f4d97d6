#include <catch2/catch.hpp>

#include "tests/e2e/e2e_util.h"

namespace escrow::e2e {
namespace {

TEST_CASE("vaultd answers health without a client certificate, with the common headers",
          "[e2e][tls]") {
  VaultProcess v;
  REQUIRE(v.Start());
  Call c;
  c.path = "/v1/health";
  HttpResult r = v.Request(c);
  CHECK(r.status == 200);
  CHECK(Json(r.body) == Json(R"({"status":"ok"})"));
  CHECK(r.headers["cache-control"] == "no-store");
  CHECK(r.headers["x-request-id"].size() == 32);
  CHECK(r.headers["content-type"] == "application/json");
  SECTION("every other route needs a certificate") {
    for (const char* path : {"/v1/devices/mac1", "/v1/devices?owner=me", "/v1/audit",
                             "/v1/metrics", "/v1/nothing"}) {
      CAPTURE(path);
      c.path = path;
      r = v.Request(c);
      CHECK(r.status == 401);
      CHECK(ErrCode(r) == "unauthenticated");
      CHECK(r.headers["cache-control"] == "no-store");
    }
  }
  CHECK(v.Log().find(R"({"event":"ready","listen":"127.0.0.1:)" + std::to_string(v.port()) +
                     "\"}") != std::string::npos);
  CHECK(v.Stop() == 0);
}

TEST_CASE("vaultd refuses certificates that do not chain or lack clientAuth", "[e2e][tls]") {
  VaultProcess v;
  REQUIRE(v.Start());
  const std::string dir = v.tmp();
  SECTION("a certificate from another CA fails the handshake") {
    REQUIRE(Sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout " +
               Quote(dir + "/ca2.key") + " -out " + Quote(dir + "/ca2.crt") +
               " -subj /CN=other-ca -days 1 >/dev/null 2>&1") == 0);
    REQUIRE(MakeClientCert(dir, "foreign", "portal", dir + "/ca2.crt", dir + "/ca2.key"));
    Call c;
    c.path = "/v1/health";
    c.cert_path = dir + "/foreign.crt";
    c.key_path = dir + "/foreign.key";
    HttpResult r = v.Request(c);
    CHECK(r.status == 0);
    CHECK(r.curl_exit != 0);
  }
  SECTION("a certificate whose extended key usage lacks clientAuth fails the handshake") {
    REQUIRE(MakeClientCert(dir, "server-only", "portal", v.CaFile(), v.state() + "/tls/ca.key",
                           "extendedKeyUsage=serverAuth"));
    Call c;
    c.path = "/v1/health";
    c.cert_path = dir + "/server-only.crt";
    c.key_path = dir + "/server-only.key";
    CHECK(v.Request(c).status == 0);
  }
  CHECK(v.Stop() == 0);
}

TEST_CASE("vaultd answers 401 to certificates of the CA that map to no client", "[e2e][tls]") {
  VaultProcess v;
  REQUIRE(v.Start());
  const std::string dir = v.tmp();
  const std::string ca_key = v.state() + "/tls/ca.key";
  v.Enrol("mac1", "alice@example.com", "corporate");
  SECTION("an unmapped CN") {
    REQUIRE(MakeClientCert(dir, "intruder", "intruder", v.CaFile(), ca_key));
    Call c;
    c.path = "/v1/devices/mac1";
    c.cert_path = dir + "/intruder.crt";
    c.key_path = dir + "/intruder.key";
    HttpResult r = v.Request(c);
    CHECK(r.status == 401);
    CHECK(ErrCode(r) == "unauthenticated");
    c.path = "/v1/health";
    CHECK(v.Request(c).status == 200);
  }
  SECTION("the right CN with the wrong key") {
    REQUIRE(MakeClientCert(dir, "fake-mdm", "mdm", v.CaFile(), ca_key));
    Call c;
    c.path = "/v1/devices/mac1";
    c.cert_path = dir + "/fake-mdm.crt";
    c.key_path = dir + "/fake-mdm.key";
    HttpResult r = v.Request(c);
    CHECK(r.status == 401);
    CHECK(ErrCode(r) == "unauthenticated");
  }
  SECTION("a known key under another CN") {
    REQUIRE(MakeClientCert(dir, "renamed", "portal-2", v.CaFile(), ca_key,
                           "extendedKeyUsage=clientAuth", v.ClientKey("mdm")));
    Call c;
    c.path = "/v1/devices/mac1";
    c.cert_path = dir + "/renamed.crt";
    c.key_path = v.ClientKey("mdm");
    CHECK(v.Request(c).status == 401);
  }
  CHECK(v.Stop() == 0);
}

TEST_CASE("vaultd speaks TLS 1.2 with AEAD suites and TLS 1.3 only", "[e2e][tls]") {
  VaultProcess v;
  REQUIRE(v.Start());
  const std::string base = "echo | openssl s_client -connect 127.0.0.1:" +
                           std::to_string(v.port()) + " -CAfile " + Quote(v.CaFile()) + " ";
  CHECK(Sh(base + "-tls1_3 >/dev/null 2>&1") == 0);
  CHECK(Sh(base + "-tls1_2 >/dev/null 2>&1") == 0);
  CHECK(Sh(base + "-tls1_1 >/dev/null 2>&1") != 0);
  CHECK(Sh(base + "-tls1_2 -cipher AES128-SHA >/dev/null 2>&1") != 0);
  CHECK(Sh(base + "-tls1_2 -cipher ECDHE-RSA-AES128-SHA256:ECDHE-ECDSA-AES128-SHA256 >/dev/null 2>&1") != 0);
  SECTION("a mapped client certificate completes the handshake") {
    CHECK(Sh(base + "-cert " + Quote(v.ClientCert("mdm")) + " -key " +
             Quote(v.ClientKey("mdm")) + " >/dev/null 2>&1") == 0);
  }
  CHECK(v.Stop() == 0);
}

}  // namespace
}  // namespace escrow::e2e
