// PUT /v1/devices/{id}/recovery-key/cms against the real vaultd (API.md, "Apple MDM escrow,
// opened inside the HSM"): envelopes made by the `openssl cms -encrypt` command line (no Mac
// runs here; an implementation independent of ours) to the fleet and device certificates the
// vault serves, opened inside SoftHSMv2. Every failure is one 400 invalid_cms that changes
// nothing, its cause only in the audit trail; the key is in no file and no log line.
#include <string>

#include <catch2/catch.hpp>

#include "tests/e2e/cms_envelopes.h"
#include "tests/e2e/e2e_util.h"

namespace escrow::e2e {
namespace {

// Keys of the macOS format, one per device, found nowhere else in the repository's tests.
constexpr const char* kCmsKeys[] = {
    "CMSA-2345-6789-ABCD-EFGH-JKLM", "CMSB-2345-6789-ABCD-EFGH-JKLM",
    "CMSC-2345-6789-ABCD-EFGH-JKLM", "CMSD-2345-6789-ABCD-EFGH-JKLM",
    "CMSE-2345-6789-ABCD-EFGH-JKLM"};

std::string Body(const std::string& cms) { return R"({"cms":")" + cms + R"("})"; }

std::size_t VersionCount(const VaultProcess& v, const std::string& id) {
  HttpResult r = v.Mdm("GET", "/v1/devices/" + id + "/recovery-key/versions");
  REQUIRE(r.status == 200);
  return Json(r.body).at("versions").as_array().size();
}

void CheckInvalidCms(const HttpResult& r) {
  INFO(r.body);
  CHECK(r.status == 400);
  CHECK(ErrCode(r) == "invalid_cms");
  CHECK(std::string(Json(r.body).at("error").at("message").as_string()) ==
        "The escrowed key envelope could not be opened.");
}

TEST_CASE("vaultd stores keys from CMS envelopes opened in the HSM, and refuses every bad one "
          "alike",
          "[e2e][cms]") {
  VaultProcess v;
  REQUIRE(v.Start());
  for (const char* id : {"mac1", "mac2", "mac3", "mac4", "mac5", "mac6"}) {
    v.Enrol(id, "alice@example.com", "corporate");
  }
  const std::string helpdesk = v.Token("hd@example.com", "--roles helpdesk");
  const std::string auditor = v.Token("aud@example.com", "--roles auditor");
  Envelopes e;
  HttpResult r = v.Mdm("GET", "/v1/escrow-certificates/current");
  REQUIRE(r.status == 200);
  const std::string fleet = e.Cert(std::string(Json(r.body).at("pem").as_string()));
  r = v.Mdm("GET", "/v1/devices/mac1/escrow-certificate");
  REQUIRE(r.status == 200);
  const std::string mac1_cert = e.Cert(std::string(Json(r.body).at("pem").as_string()));
  const std::string oaep = " -keyopt rsa_padding_mode:oaep";
  const std::string path1 = "/v1/devices/mac1/recovery-key/cms";

  // The fleet certificate, AES-256, PKCS#1 v1.5: a version with source cms, released equal.
  // macOS ends the key with a newline: trailing whitespace and NULs are not the key.
  const std::string first = e.Make(std::string(kCmsKeys[0]) + "\n", "-aes256", Quote(fleet));
  r = v.Mdm("PUT", path1, Body(first));
  INFO(r.body);
  REQUIRE(r.status == 200);
  CHECK(Json(r.body).at("version") == 1);
  r = v.Mdm("GET", "/v1/devices/mac1/recovery-key/versions");
  REQUIRE(r.status == 200);
  CHECK(Json(r.body).at("versions").as_array()[0].at("source") == "cms");
  r = v.As(helpdesk, "POST", "/v1/devices/mac1/recovery-key/retrieve",
           R"({"reason":"ticket 14: CMS escrow"})");
  REQUIRE(r.status == 200);
  CHECK(Json(r.body).at("recovery_key") == kCmsKeys[0]);

  // -des3, -keyid, OAEP with SHA-1; and with a key_id.
  struct Ok {
    std::string id, key, flags, recip;
  };
  for (const Ok& c : {Ok{"mac2", kCmsKeys[1], "-des3", Quote(fleet)},
                      Ok{"mac3", kCmsKeys[2], "-aes128 -keyid", Quote(fleet)},
                      Ok{"mac4", kCmsKeys[3], "-aes256", "-recip " + Quote(fleet) + oaep}}) {
    INFO(c.flags);
    r = v.Mdm("PUT", "/v1/devices/" + c.id + "/recovery-key/cms",
              Body(e.Make(c.key, c.flags, c.recip)));
    INFO(r.body);
    CHECK(r.status == 200);
    r = v.As(helpdesk, "POST", "/v1/devices/" + c.id + "/recovery-key/retrieve",
             R"({"reason":"ticket 14"})");
    REQUIRE(r.status == 200);
    CHECK(std::string(Json(r.body).at("recovery_key").as_string()) == c.key);
  }

  // OAEP with SHA-256: SoftHSMv2 can't, so it doesn't open, and the audit says why.
  const std::size_t before = VersionCount(v, "mac1");
  CheckInvalidCms(v.Mdm("PUT", path1,
                        Body(e.Make(kCmsKeys[4], "-aes256",
                                    "-recip " + Quote(fleet) + oaep +
                                        " -keyopt rsa_oaep_md:sha256"))));
  r = v.As(auditor, "GET", "/v1/audit?device_id=mac1&limit=1000");
  REQUIRE(r.status == 200);
  CHECK_THAT(r.body, Catch::Contains("mechanism unsupported"));

  // Hostile input: each is the same 400, and nothing changes.
  const std::string good_der = e.Der(kCmsKeys[4], "-aes256", Quote(fleet));
  const std::string der_bytes = testing::ReadFileBytes(good_der);
  const std::string truncated = e.dir.str() + "/truncated.der";
  WriteText(truncated, der_bytes.substr(0, der_bytes.size() - 40));
  std::string flipped_bytes = der_bytes;
  flipped_bytes[flipped_bytes.size() - 1 - 16] ^= 0x01;  // the content's padding, via CBC
  const std::string flipped = e.dir.str() + "/flipped.der";
  WriteText(flipped, flipped_bytes);
  const std::string garbage = e.dir.str() + "/garbage.der";
  WriteText(garbage, std::string(300, '\x30'));
  for (const std::string& cms :
       {std::string("not base64 at all"), Envelopes::Base64(garbage), Envelopes::Base64(truncated),
        Envelopes::Base64(flipped), e.Make("this is not a recovery key", "-aes256", Quote(fleet))}) {
    CheckInvalidCms(v.Mdm("PUT", path1, Body(cms)));
  }
  CHECK(VersionCount(v, "mac1") == before);

  // One envelope, one device: the same envelope for another device is a replay; an envelope
  // to mac1's own certificate opens for mac1 only.
  CheckInvalidCms(v.Mdm("PUT", "/v1/devices/mac5/recovery-key/cms", Body(first)));
  const std::string to_mac1 = e.Make(kCmsKeys[4], "-aes256", Quote(mac1_cert));
  CheckInvalidCms(v.Mdm("PUT", "/v1/devices/mac5/recovery-key/cms", Body(to_mac1)));
  CHECK(VersionCount(v, "mac5") == 0);
  r = v.As(auditor, "GET", "/v1/audit?device_id=mac5&limit=1000");
  REQUIRE(r.status == 200);
  CHECK_THAT(r.body, Catch::Contains("replay"));
  CHECK_THAT(r.body, Catch::Contains("addressed to another device"));
  r = v.Mdm("PUT", path1, Body(to_mac1));
  INFO(r.body);
  CHECK(r.status == 200);

  // The request itself: unknown members, a missing cms, the wrong caller.
  CHECK(ErrCode(v.Mdm("PUT", "/v1/devices/mac6/recovery-key/cms",
                      R"({"cms":"MAA=","recovery_key":"x"})")) == "invalid_request");
  CHECK(ErrCode(v.Mdm("PUT", "/v1/devices/mac6/recovery-key/cms", "{}")) == "invalid_request");
  CHECK(ErrCode(v.As(v.Token("alice@example.com"), "PUT", "/v1/devices/mac6/recovery-key/cms",
                     Body(to_mac1))) == "forbidden");
  CHECK(ErrCode(v.Mdm("PUT", "/v1/devices/nope/recovery-key/cms", Body(to_mac1))) ==
        "device_not_found");

  // No plaintext key in the database files or vaultd's log.
  REQUIRE(v.Stop() == 0);
  const std::string log = v.Log();
  for (const char* key : kCmsKeys) {
    INFO(key);
    CHECK(log.find(key) == std::string::npos);
    CHECK(Sh("grep -rlaF " + Quote(key) + " " + Quote(v.state())) != 0);
  }
}

TEST_CASE("vaultd answers 429 once a client's failed CMS opens fill cms_failures",
          "[e2e][cms][limits]") {
  VaultProcess v;
  REQUIRE(Sh("sed -i -E 's/^cms_failures[[:space:]]*=.*/cms_failures = { count = 3, "
             "window_seconds = 60 }/' " +
             Quote(v.state() + "/vault.conf")) == 0);
  std::string conf;
  REQUIRE(Sh("grep '^cms_failures' " + Quote(v.state() + "/vault.conf"), &conf) == 0);
  REQUIRE_THAT(conf, Catch::Contains("count = 3"));
  REQUIRE(v.Start());
  v.Enrol("mac1", "alice@example.com", "corporate");
  const std::string path = "/v1/devices/mac1/recovery-key/cms";
  for (int i = 0; i < 3; ++i) CheckInvalidCms(v.Mdm("PUT", path, Body("AAAA")));
  HttpResult r = v.Mdm("PUT", path, Body("AAAA"));
  CHECK(r.status == 429);
  CHECK(ErrCode(r) == "rate_limited");
  // Before any parsing: even a malformed body is 429 now.
  CHECK(v.Mdm("PUT", path, "{").status == 429);
  // Other routes are not affected.
  CHECK(v.Mdm("GET", "/v1/devices/mac1").status == 200);
}

}  // namespace
}  // namespace escrow::e2e
