#include "vault/ops/dev_certs.h"

#include <sys/stat.h>

#include <array>
#include <filesystem>
#include <string>

#include <catch2/catch.hpp>

#include "tests/support/temp_dir.h"
#include "tests/tools/tools_test_util.h"
#include "vault/ops/files.h"

namespace escrow::ops {
namespace {

using escrow::testing::FileMode;
using escrow::testing::RunCommand;
using escrow::testing::ShellQuote;
using escrow::testing::TempDir;

std::string Q(const std::filesystem::path& p) { return ShellQuote(p.string()); }

// The fingerprint as an operator would compute it with the openssl CLI.
std::string CliFingerprint(const std::filesystem::path& cert) {
  std::string out;
  RunCommand("openssl x509 -in " + Q(cert) +
                 " -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1",
             &out);
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

std::string X509Text(const std::filesystem::path& cert) {
  std::string out;
  RunCommand("openssl x509 -in " + Q(cert) + " -noout -text", &out);
  return out;
}

struct PkiFixture {
  TempDir dir;
  std::filesystem::path tls;
  DevPki pki;
  PkiFixture() : tls(dir.path() / "tls") {
    std::filesystem::create_directories(tls / "clients");
    const std::array<std::string, 2> names = {"portal", "mdm"};
    Result<DevPki> made = CreateDevPki(tls, names);
    REQUIRE(made.ok());
    pki = std::move(made).value();
  }
};

TEST_CASE("CreateDevPki writes a CA, a server and client certificates that verify",
          "[ops][dev_certs]") {
  PkiFixture f;
  REQUIRE(f.pki.clients.size() == 2);

  SECTION("every certificate chains to the CA, for its purpose only") {
    CHECK(RunCommand("openssl verify -CAfile " + Q(f.pki.ca_cert) + " -purpose sslserver " +
                     Q(f.pki.server_cert) + " >/dev/null 2>&1") == 0);
    for (const DevClientCert& c : f.pki.clients) {
      CHECK(RunCommand("openssl verify -CAfile " + Q(f.pki.ca_cert) + " -purpose sslclient " +
                       Q(c.cert_path) + " >/dev/null 2>&1") == 0);
      CHECK(RunCommand("openssl verify -CAfile " + Q(f.pki.ca_cert) + " -purpose sslserver " +
                       Q(c.cert_path) + " >/dev/null 2>&1") != 0);
    }
    CHECK(RunCommand("openssl verify -CAfile " + Q(f.pki.ca_cert) + " -purpose sslclient " +
                     Q(f.pki.server_cert) + " >/dev/null 2>&1") != 0);
  }

  SECTION("the CA is a CA that signs certificates") {
    const std::string text = X509Text(f.pki.ca_cert);
    CHECK(text.find("CA:TRUE") != std::string::npos);
    CHECK(text.find("Certificate Sign") != std::string::npos);
    CHECK(text.find("prime256v1") != std::string::npos);
  }

  SECTION("the server certificate names localhost and 127.0.0.1 for serverAuth") {
    const std::string text = X509Text(f.pki.server_cert);
    CHECK(text.find("DNS:localhost") != std::string::npos);
    CHECK(text.find("IP Address:127.0.0.1") != std::string::npos);
    CHECK(text.find("TLS Web Server Authentication") != std::string::npos);
    CHECK(text.find("CA:FALSE") != std::string::npos);
  }

  SECTION("client certificates carry their CN and clientAuth") {
    for (const DevClientCert& c : f.pki.clients) {
      const std::string text = X509Text(c.cert_path);
      CHECK(text.find("CN = " + c.name) != std::string::npos);
      CHECK(text.find("TLS Web Client Authentication") != std::string::npos);
      CHECK(text.find("TLS Web Server Authentication") == std::string::npos);
    }
  }

  SECTION("fingerprints are SHA-256 of the SubjectPublicKeyInfo, as openssl computes it") {
    for (const DevClientCert& c : f.pki.clients) {
      CHECK(c.fingerprint.size() == 64);
      CHECK(c.fingerprint == CliFingerprint(c.cert_path));
      Result<std::string> again = CertificateKeyFingerprint(c.cert_path);
      REQUIRE(again.ok());
      CHECK(*again == c.fingerprint);
    }
    CHECK(f.pki.clients[0].fingerprint != f.pki.clients[1].fingerprint);
  }

  SECTION("private keys are 0600 and match their certificates") {
    CHECK(FileMode(f.pki.ca_key) == 0600);
    CHECK(FileMode(f.pki.server_key) == 0600);
    for (const DevClientCert& c : f.pki.clients) {
      CHECK(FileMode(c.key_path) == 0600);
      std::string a;
      std::string b;
      RunCommand("openssl pkey -in " + Q(c.key_path) + " -pubout", &a);
      RunCommand("openssl x509 -in " + Q(c.cert_path) + " -noout -pubkey", &b);
      CHECK(!a.empty());
      CHECK(a == b);
    }
  }

  SECTION("nothing is overwritten") {
    const std::array<std::string, 1> names = {"portal"};
    CHECK(CreateDevPki(f.tls, names).status().code() == Code::kAlreadyExists);
  }
}

TEST_CASE("CertificateKeyFingerprint reports unreadable and non-certificate files",
          "[ops][dev_certs]") {
  TempDir dir;
  CHECK(CertificateKeyFingerprint(dir.path() / "none.crt").status().code() == Code::kNotFound);
  REQUIRE(WriteNewFile(dir.path() / "junk.crt", std::string_view("junk"), 0644).ok());
  CHECK(CertificateKeyFingerprint(dir.path() / "junk.crt").status().code() ==
        Code::kInvalidArgument);
}

TEST_CASE("CreateEcSigningKey writes a 0600 P-256 key and its public key", "[ops][dev_certs]") {
  TempDir dir;
  const auto key = dir.path() / "k.key";
  const auto pub = dir.path() / "k.pub";
  REQUIRE(CreateEcSigningKey(key, pub).ok());
  CHECK(FileMode(key) == 0600);
  std::string text;
  REQUIRE(RunCommand("openssl pkey -pubin -in " + Q(pub) + " -noout -text", &text) == 0);
  CHECK(text.find("P-256") != std::string::npos);
  std::string from_key;
  std::string from_pub;
  RunCommand("openssl pkey -in " + Q(key) + " -pubout", &from_key);
  RunCommand("cat " + Q(pub), &from_pub);
  CHECK(from_key == from_pub);
  CHECK(CreateEcSigningKey(key, dir.path() / "other.pub").code() == Code::kAlreadyExists);
}

}  // namespace
}  // namespace escrow::ops
