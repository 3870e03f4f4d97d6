// Signed audit checkpoints through the real vaultd over HTTPS (API.md, "HSM modules and signed
// audit checkpoints"): a signing key made by the real vaultctl while vaultd serves, picked up
// within vaultd's recheck interval; GET /v1/audit/checkpoints for admin and auditor only; a
// served signature checked with OpenSSL's API and with `openssl dgst -verify`, over the exact
// bytes API.md gives, and its hash against the audit record at its seq.
#include <chrono>
#include <fstream>
#include <string>
#include <thread>

#include <catch2/catch.hpp>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "base/base64.h"
#include "base/bytes.h"
#include "base/ssl_ptr.h"
#include "tests/e2e/e2e_util.h"

namespace escrow::e2e {
namespace {

void WriteBytes(const std::string& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),  // NOLINT: ofstream takes char
            static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

// API.md's bytes, built here by hand (not with the vault's own function).
Bytes Message(std::uint64_t seq, const Bytes& hash, std::uint64_t at_ms) {
  const std::string domain = "escrow-checkpoint";
  Bytes m(domain.begin(), domain.end());
  m.push_back(1);
  for (int s = 56; s >= 0; s -= 8) m.push_back(static_cast<std::uint8_t>(seq >> s));
  m.insert(m.end(), hash.begin(), hash.end());
  for (int s = 56; s >= 0; s -= 8) m.push_back(static_cast<std::uint8_t>(at_ms >> s));
  return m;
}

bool OpenSslVerifies(const std::string& pem, const Bytes& message, const Bytes& signature) {
  SslPtr<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  SslPtr<EVP_PKEY> key(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
  REQUIRE(key);
  SslPtr<EVP_MD_CTX> ctx(EVP_MD_CTX_new());
  REQUIRE(EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get()) == 1);
  return EVP_DigestVerify(ctx.get(), signature.data(), signature.size(), message.data(),
                          message.size()) == 1;
}

TEST_CASE("vaultd signs checkpoints with a key made while it serves, and OpenSSL verifies them",
          "[e2e][checkpoints]") {
  VaultProcess v;
  REQUIRE(v.Start());
  v.Enrol("mac1", "alice@example.com", "corporate");
  const std::string admin = v.Token("root@example.com", "--roles admin");
  const std::string auditor = v.Token("aud@example.com", "--roles auditor");
  const std::string helpdesk = v.Token("hd@example.com", "--roles helpdesk");
  const std::string alice = v.Token("alice@example.com");

  // No key yet: no checkpoint, no public key.
  HttpResult r = v.As(auditor, "GET", "/v1/audit/checkpoints");
  REQUIRE(r.status == 200);
  CHECK(Json(r.body).as_object().at("checkpoints").as_array().empty());
  CHECK(Json(r.body).as_object().at("public_keys").as_object().empty());
  CHECK(Json(r.body).as_object().at("next_after").is_null());

  std::string out;
  REQUIRE(Sh(Quote(VaultctlPath()) + " audit-signing-key create --config " +
                 Quote(v.state() + "/vault.conf") + " 2>&1",
             &out) == 0);
  CHECK_THAT(out, Catch::Contains("escrow-audit-sign-v1"));
  const std::string printed_pem = out.substr(
      out.find("-----BEGIN PUBLIC KEY-----"),
      out.find("-----END PUBLIC KEY-----") + 25 - out.find("-----BEGIN PUBLIC KEY-----"));

  // Traffic: a store and a retrieval, then reads (each audited) until a signed head appears,
  // which vaultd must do within its 10 s recheck.
  r = v.As(alice, "PUT", "/v1/devices/mac1/recovery-key", KeyBody(kMacKey1, kMacKey1));
  REQUIRE(r.status == 200);
  r = v.As(alice, "POST", "/v1/devices/mac1/recovery-key/retrieve", "{}");
  REQUIRE(r.status == 200);
  boost::json::object page;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  for (;;) {
    r = v.As(auditor, "GET", "/v1/audit/checkpoints?after=0&limit=1000");
    REQUIRE(r.status == 200);
    page = Json(r.body).as_object();
    if (!page.at("checkpoints").as_array().empty()) break;
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  const boost::json::array& checkpoints = page.at("checkpoints").as_array();
  const boost::json::object& cp = checkpoints.back().as_object();
  const std::string pem(page.at("public_keys").as_object().at("1").as_string());
  CHECK(pem == printed_pem);
  CHECK(cp.at("key_version").as_int64() == 1);
  const auto seq = static_cast<std::uint64_t>(cp.at("seq").as_int64());
  const auto at = static_cast<std::uint64_t>(cp.at("at").as_int64());
  const Bytes hash = HexDecode(std::string(cp.at("hash").as_string())).value();
  const Bytes signature =
      DecodeBase64Strict(std::string(cp.at("signature").as_string()), 256).value();

  // The hash is the audit record's at that seq.
  r = v.As(auditor, "GET", "/v1/audit?after=" + std::to_string(seq - 1) + "&limit=1");
  REQUIRE(r.status == 200);
  const boost::json::value records = Json(r.body);
  const boost::json::object& record =
      records.as_object().at("records").as_array().at(0).as_object();
  CHECK(static_cast<std::uint64_t>(record.at("seq").as_int64()) == seq);
  CHECK(std::string(record.at("hash").as_string()) == std::string(cp.at("hash").as_string()));

  // OpenSSL's API, and the command line, over the bytes written to files.
  const Bytes message = Message(seq, hash, at);
  CHECK(OpenSslVerifies(pem, message, signature));
  Bytes other = message;
  other.back() ^= 1;
  CHECK_FALSE(OpenSslVerifies(pem, other, signature));
  const std::string dir = v.tmp();
  WriteBytes(dir + "/msg.bin", message);
  WriteBytes(dir + "/bad.bin", other);
  WriteBytes(dir + "/sig.der", signature);
  { std::ofstream(dir + "/pub.pem") << pem; }
  std::string verified;
  CHECK(Sh("openssl dgst -sha256 -verify " + Quote(dir + "/pub.pem") + " -signature " +
               Quote(dir + "/sig.der") + " " + Quote(dir + "/msg.bin") + " 2>&1",
           &verified) == 0);
  CHECK_THAT(verified, Catch::Contains("Verified OK"));
  CHECK(Sh("openssl dgst -sha256 -verify " + Quote(dir + "/pub.pem") + " -signature " +
           Quote(dir + "/sig.der") + " " + Quote(dir + "/bad.bin") + " >/dev/null 2>&1") != 0);

  // Who may read, and the query's bounds.
  CHECK(v.As(admin, "GET", "/v1/audit/checkpoints").status == 200);
  CHECK(v.As(helpdesk, "GET", "/v1/audit/checkpoints").status == 403);
  CHECK(v.As(alice, "GET", "/v1/audit/checkpoints").status == 403);
  for (const char* bad : {"?limit=0", "?limit=1001", "?after=x", "?after=-1"}) {
    INFO(bad);
    r = v.As(auditor, "GET", std::string("/v1/audit/checkpoints") + bad);
    CHECK(r.status == 400);
    CHECK(ErrCode(r) == "invalid_request");
  }
  // Paging: next_after is the page's last seq while more may follow.
  r = v.As(auditor, "GET", "/v1/audit/checkpoints?limit=1");
  REQUIRE(r.status == 200);
  const boost::json::object first = Json(r.body).as_object();
  REQUIRE(first.at("checkpoints").as_array().size() == 1);
  const boost::json::value& next = first.at("next_after");
  CHECK((next.is_null() ||
         next.as_int64() == first.at("checkpoints").as_array()[0].at("seq").as_int64()));
}

}  // namespace
}  // namespace escrow::e2e
