#include "api/client_registry.h"

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <array>
#include <memory>

#include <catch2/catch.hpp>

#include "base/bytes.h"

namespace escrow::api {
namespace {

struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

PkeyPtr NewKey() { return PkeyPtr(EVP_EC_gen("P-256")); }

X509Ptr SelfSigned(EVP_PKEY* key, const char* cn) {
  X509Ptr cert(X509_new());
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  if (cn != nullptr) {
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(cn), -1, -1, 0);
  }
  X509_set_issuer_name(cert.get(), name);
  X509_sign(cert.get(), key, EVP_sha256());
  return cert;
}

std::string SpkiSha256(EVP_PKEY* key) {
  unsigned char* der = nullptr;
  int len = i2d_PUBKEY(key, &der);
  std::array<std::uint8_t, 32> md{};
  unsigned int md_len = 0;
  EVP_Digest(der, static_cast<std::size_t>(len), md.data(), &md_len, EVP_sha256(), nullptr);
  OPENSSL_free(der);
  return HexEncode(md);
}

TEST_CASE("DescribeCert reads the CN and the SPKI fingerprint", "[api][clients]") {
  PkeyPtr key = NewKey();
  X509Ptr cert = SelfSigned(key.get(), "portal");
  std::optional<PeerCert> peer = DescribeCert(cert.get());
  REQUIRE(peer);
  CHECK(peer->cn == "portal");
  CHECK(peer->spki_sha256 == SpkiSha256(key.get()));
  CHECK(peer->spki_sha256.size() == 64);
  SECTION("no CN: nothing") { CHECK_FALSE(DescribeCert(SelfSigned(key.get(), nullptr).get())); }
  SECTION("null: nothing") { CHECK_FALSE(DescribeCert(nullptr)); }
}

TEST_CASE("ClientRegistry needs the CN and the key fingerprint to match", "[api][clients]") {
  PkeyPtr portal_key = NewKey();
  PkeyPtr mdm_key = NewKey();
  PkeyPtr other_key = NewKey();
  ClientRegistry registry({{"portal", SpkiSha256(portal_key.get()), "frontend"},
                           {"mdm", SpkiSha256(mdm_key.get()), "mdm"}});
  auto match = [&](EVP_PKEY* key, const char* cn) {
    return registry.Match(*DescribeCert(SelfSigned(key, cn).get()));
  };
  REQUIRE(match(portal_key.get(), "portal"));
  CHECK(match(portal_key.get(), "portal")->role == "frontend");
  CHECK(match(mdm_key.get(), "mdm")->role == "mdm");
  CHECK_FALSE(match(other_key.get(), "portal"));   // right CN, wrong key
  CHECK_FALSE(match(portal_key.get(), "mdm"));     // a known key under another CN
  CHECK_FALSE(match(portal_key.get(), "unknown"));
  SECTION("fingerprints compare case-insensitively") {
    std::string upper = SpkiSha256(portal_key.get());
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    ClientRegistry r2({{"portal", upper, "frontend"}});
    CHECK(r2.Match({"portal", SpkiSha256(portal_key.get())}));
  }
}

}  // namespace
}  // namespace escrow::api
