#include <catch2/catch.hpp>

#include <initializer_list>
#include <memory>
#include <random>
#include <string>

#include "tests/vault/cms_test_util.h"
#include "vault/cms_envelope.h"

namespace escrow::vault {
namespace {

using testing::Keys;
using testing::OpensslCms;
using testing::OpensslToFile;

std::string Cert(int i) { return "'" + Keys().cert_path[i] + "'"; }

// The one answer to every bad envelope: kInvalidArgument, reason invalid_cms, and a cause.
std::string Refusal(const Bytes& der) {
  const Result<Envelope> envelope = ParseEnvelope(der);
  if (envelope.ok()) return "parsed";
  CHECK(envelope.status().code() == Code::kInvalidArgument);
  CHECK(envelope.status().reason() == "invalid_cms");
  return envelope.status().message();
}

// A minimal DER writer, to build envelopes that differ from a valid one in one field.
Bytes Tlv(std::uint8_t tag, const Bytes& content) {
  Bytes out{tag};
  const std::size_t n = content.size();
  if (n < 0x80) {
    out.push_back(static_cast<std::uint8_t>(n));
  } else if (n < 0x100) {
    out.insert(out.end(), {0x81, static_cast<std::uint8_t>(n)});
  } else {
    out.insert(out.end(), {0x82, static_cast<std::uint8_t>(n >> 8), static_cast<std::uint8_t>(n)});
  }
  out.insert(out.end(), content.begin(), content.end());
  return out;
}
Bytes Cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}
Bytes Seq(std::initializer_list<Bytes> parts) { return Tlv(0x30, Cat(parts)); }
Bytes Set(std::initializer_list<Bytes> parts) { return Tlv(0x31, Cat(parts)); }
Bytes Octets(std::size_t n, std::uint8_t fill = 0xA5) { return Tlv(0x04, Bytes(n, fill)); }
Bytes Int(std::uint8_t v) { return Tlv(0x02, {v}); }
Bytes Null() { return {0x05, 0x00}; }
Bytes Oid(const char* dotted) {
  struct ObjectFree {
    void operator()(ASN1_OBJECT* p) const noexcept { ASN1_OBJECT_free(p); }
  };
  const std::unique_ptr<ASN1_OBJECT, ObjectFree> obj(OBJ_txt2obj(dotted, 1));
  REQUIRE(obj != nullptr);
  unsigned char* der = nullptr;
  const int len = i2d_ASN1_OBJECT(obj.get(), &der);
  const SslBuffer<unsigned char> owner(der);
  REQUIRE(len > 0);
  return {der, der + len};
}

constexpr const char* kData = "1.2.840.113549.1.7.1";
constexpr const char* kEnveloped = "1.2.840.113549.1.7.3";
constexpr const char* kRsa = "1.2.840.113549.1.1.1";
constexpr const char* kOaep = "1.2.840.113549.1.1.7";
constexpr const char* kAes128 = "2.16.840.1.101.3.4.1.2";
constexpr const char* kDes3 = "1.2.840.113549.3.7";

Bytes IssuerSerial() {
  return Seq({Seq({Set({Seq({Oid("2.5.4.3"), Tlv(0x0C, {'x'})})})}), Int(7)});
}
Bytes Ktri(const Bytes& key_alg, const Bytes& encrypted_key, const Bytes& rid = IssuerSerial()) {
  return Seq({Int(0), rid, key_alg, encrypted_key});
}
Bytes RsaAlg() { return Seq({Oid(kRsa), Null()}); }

struct Parts {
  std::vector<Bytes> recipients{Ktri(RsaAlg(), Octets(256))};
  Bytes content_type = Oid(kData);
  Bytes cipher = Seq({Oid(kAes128), Octets(16)});
  Bytes content = Tlv(0x80, Bytes(32, 0x5A));  // [0] IMPLICIT OCTET STRING
};
Bytes Build(const Parts& p) {
  Bytes ris;
  for (const Bytes& r : p.recipients) ris.insert(ris.end(), r.begin(), r.end());
  const Bytes eci = Seq({p.content_type, p.cipher, p.content});
  return Seq({Oid(kEnveloped), Tlv(0xA0, Seq({Int(0), Tlv(0x31, ris), eci}))});
}

TEST_CASE("A hand-built envelope parses, so each variant below differs in one field",
          "[vault][cms]") {
  const Result<Envelope> e = ParseEnvelope(Build(Parts{}));
  REQUIRE(e.ok());
  CHECK(e->recipients.size() == 1);
  CHECK(e->recipients[0].id.serial == Bytes{7});
  CHECK(e->recipients[0].encrypted_key == Bytes(256, 0xA5));
  CHECK(e->iv == Bytes(16, 0xA5));
  CHECK(e->encrypted_content == Bytes(32, 0x5A));
}

TEST_CASE("Not DER, garbage and the wrong CMS types are refused", "[vault][cms]") {
  CHECK(Refusal({}) == "not DER");
  CHECK(Refusal({'h', 'e', 'l', 'l', 'o'}) == "not DER");
  std::mt19937 rng(14);  // NOLINT(cert-msc32-c,cert-msc51-cpp): reproducible garbage
  for (int i = 0; i < 200; ++i) {
    Bytes garbage(static_cast<std::size_t>(1 + rng() % 2000));
    for (auto& b : garbage) b = static_cast<std::uint8_t>(rng());
    CHECK(Refusal(garbage) != "parsed");
  }
  const std::string in = "'" + Keys().dir.str() + "/plain.txt'";
  OpensslCms("-aes128 " + Cert(0));  // writes plain.txt
  CHECK(Refusal(OpensslToFile("openssl cms -sign -binary -nodetach -outform DER -in " + in +
                              " -signer " + Cert(0) + " -inkey '" + Keys().dir.str() +
                              "/escrow0.key' -out {out}")) == "not enveloped data");
  CHECK(Refusal(OpensslToFile("openssl cms -data_create -binary -outform DER -in " + in +
                              " -out {out}")) == "not enveloped data");
  // AES-GCM makes an AuthEnvelopedData (RFC 5083): not what macOS sends, not opened here.
  CHECK(Refusal(OpensslCms("-aes-256-gcm " + Cert(0))) == "not enveloped data");
}

TEST_CASE("Envelopes without a key transport recipient are refused", "[vault][cms]") {
  CHECK(Refusal(OpensslCms("-aes128 -pwri_password not-a-key")) == "no key transport recipient");
  CHECK(Refusal(OpensslCms("-aes128 -secretkey 000102030405060708090a0b0c0d0e0f -secretkeyid "
                           "01020304")) == "no key transport recipient");
  SECTION("a KEK recipient beside a key transport one is counted and skipped") {
    Parts p;
    p.recipients.push_back(Tlv(0xA2, Cat({Int(4), Seq({Octets(4)}),
                                          Seq({Oid("2.16.840.1.101.3.4.1.5")}), Octets(24)})));
    const Result<Envelope> e = ParseEnvelope(Build(p));
    REQUIRE(e.ok());
    CHECK(e->recipients.size() == 1);
    CHECK(e->skipped_recipients == 1);
  }
}

TEST_CASE("Unsupported ciphers and key encryptions are refused", "[vault][cms]") {
  CHECK(Refusal(OpensslCms("-camellia128 " + Cert(0))) == "unsupported content cipher");
  CHECK(Refusal(OpensslCms("-aes-128-ofb " + Cert(0))) == "unsupported content cipher");
  const auto with_key_alg = [](const Bytes& alg) {
    Parts p;
    p.recipients = {Ktri(alg, Octets(256))};
    return Refusal(Build(p));
  };
  const Bytes sha256 = Seq({Oid("2.16.840.1.101.3.4.2.1")});
  const Bytes mgf1_sha256 = Tlv(0xA1, Seq({Oid("1.2.840.113549.1.1.8"), sha256}));
  CHECK(with_key_alg(Seq({Oid(kRsa)})) == "parsed");  // NULL parameters may be absent
  CHECK(with_key_alg(Seq({Oid(kOaep), Seq({Tlv(0xA0, sha256), mgf1_sha256})})) == "parsed");
  CHECK(with_key_alg(Seq({Oid(kRsa), Int(1)})) == "unsupported key encryption");
  CHECK(with_key_alg(Seq({Oid("1.2.840.10045.2.1")})) == "unsupported key encryption");
  CHECK(with_key_alg(Seq({Oid(kOaep)})) == "unsupported key encryption");  // no parameters
  CHECK(with_key_alg(Seq({Oid(kOaep), Seq({Tlv(0xA0, Seq({Oid("1.2.840.113549.2.5")}))})})) ==
        "unsupported key encryption");  // MD5
  CHECK(with_key_alg(Seq({Oid(kOaep), Seq({Tlv(0xA1, Seq({Oid(kRsa), sha256}))})})) ==
        "unsupported key encryption");  // a mask generation function other than MGF1
  const Bytes p_specified = Oid("1.2.840.113549.1.1.9");
  CHECK(with_key_alg(Seq({Oid(kOaep), Seq({Tlv(0xA2, Seq({p_specified, Octets(0)}))})})) ==
        "parsed");  // an empty label is the default written out
  CHECK(with_key_alg(Seq({Oid(kOaep), Seq({Tlv(0xA2, Seq({p_specified, Octets(3)}))})})) ==
        "unsupported key encryption");  // a label
}

TEST_CASE("Bad IVs, content and content types are refused", "[vault][cms]") {
  const auto with = [](auto change) {
    Parts p;
    change(p);
    return Refusal(Build(p));
  };
  CHECK(with([](Parts& p) { p.cipher = Seq({Oid(kAes128), Octets(15)}); }) == "bad IV");
  CHECK(with([](Parts& p) { p.cipher = Seq({Oid(kAes128), Octets(17)}); }) == "bad IV");
  CHECK(with([](Parts& p) { p.cipher = Seq({Oid(kAes128)}); }) == "bad IV");
  CHECK(with([](Parts& p) { p.cipher = Seq({Oid(kAes128), Null()}); }) == "bad IV");
  CHECK(with([](Parts& p) { p.cipher = Seq({Oid(kDes3), Octets(16)}); }) == "bad IV");
  CHECK(with([](Parts& p) { p.cipher = Seq({Oid(kDes3), Octets(8)}); }) == "parsed");
  CHECK(with([](Parts& p) { p.content = {}; }) == "no content");
  CHECK(with([](Parts& p) { p.content = Tlv(0x80, {}); }) == "bad content length");
  CHECK(with([](Parts& p) { p.content = Tlv(0x80, Bytes(31, 1)); }) == "bad content length");
  CHECK(with([](Parts& p) { p.content_type = Oid("1.2.840.113549.1.7.2"); }) ==
        "content not id-data");
  CHECK(with([](Parts& p) { p.recipients = {Ktri(RsaAlg(), Octets(0))}; }) ==
        "bad encrypted key");
  CHECK(with([](Parts& p) { p.recipients = {Ktri(RsaAlg(), Octets(8), Tlv(0x80, {}))}; }) ==
        "bad recipient id");
}

TEST_CASE("Every bound holds at its limit and fails one past it", "[vault][cms]") {
  const auto with = [](auto change) {
    Parts p;
    change(p);
    return Refusal(Build(p));
  };
  CHECK(with([](Parts& p) { p.recipients.assign(8, Ktri(RsaAlg(), Octets(256))); }) == "parsed");
  CHECK(with([](Parts& p) { p.recipients.assign(9, Ktri(RsaAlg(), Octets(256))); }) ==
        "too many recipients");
  std::string nine;
  for (int i = 0; i < 9; ++i) nine += " " + Cert(i % 2);
  CHECK(Refusal(OpensslCms("-aes128" + nine)) == "too many recipients");
  CHECK(with([](Parts& p) { p.recipients = {Ktri(RsaAlg(), Octets(512))}; }) == "parsed");
  CHECK(with([](Parts& p) { p.recipients = {Ktri(RsaAlg(), Octets(513))}; }) == "too large");
  CHECK(with([](Parts& p) { p.content = Tlv(0x80, Bytes(kMaxCmsContentBytes, 1)); }) ==
        "parsed");
  CHECK(with([](Parts& p) { p.content = Tlv(0x80, Bytes(kMaxCmsContentBytes + 16, 1)); }) ==
        "too large");
  CHECK(Refusal(OpensslCms("-aes128 " + Cert(0), std::string(5000, 'k'))) == "too large");
  Bytes big = Build(Parts{});
  big.resize(kMaxCmsBytes + 1, 0);
  CHECK(Refusal(big) == "too large");
  Bytes trailing = Build(Parts{});
  trailing.push_back(0);
  CHECK(Refusal(trailing) == "trailing data");
}

TEST_CASE("Truncation at every length and a flipped bit anywhere fail cleanly or parse",
          "[vault][cms]") {
  for (const Bytes& der : {OpensslCms("-aes256 " + Cert(0)),
                           OpensslCms("-des3 -keyid -recip " + Cert(1) +
                                      " -keyopt rsa_padding_mode:oaep " + Cert(0)),
                           OpensslCms("-stream -aes128 " + Cert(0))}) {
    REQUIRE(ParseEnvelope(der).ok());
    for (std::size_t n = 0; n < der.size(); ++n) {
      const Bytes cut(der.begin(), der.begin() + static_cast<std::ptrdiff_t>(n));
      INFO("length " << n);
      CHECK(Refusal(cut) != "parsed");
    }
    std::size_t parsed = 0;
    for (std::size_t i = 0; i < der.size(); ++i) {
      for (int bit = 0; bit < 8; ++bit) {
        Bytes flipped = der;
        flipped[i] ^= static_cast<std::uint8_t>(1U << bit);
        const Result<Envelope> e = ParseEnvelope(flipped);
        if (!e.ok()) {
          CHECK(e.status().reason() == "invalid_cms");
          continue;
        }
        ++parsed;  // a flip in a key, IV or ciphertext: the bounds still hold
        CHECK(!e->recipients.empty());
        CHECK(e->recipients.size() + e->skipped_recipients <= kMaxCmsRecipients);
        CHECK(e->iv.size() == CipherIvBytes(e->cipher));
        CHECK(e->encrypted_content.size() % CipherBlockBytes(e->cipher) == 0);
      }
    }
    CHECK(parsed > 0);
  }
}

}  // namespace
}  // namespace escrow::vault
