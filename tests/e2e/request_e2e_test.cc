#include <catch2/catch.hpp>

#include "tests/e2e/e2e_util.h"

namespace escrow::e2e {
namespace {

TEST_CASE("vaultd answers malformed requests with API.md's 4xx errors", "[e2e][requests]") {
  VaultProcess v;
  REQUIRE(v.Start());
  v.Enrol("mac1", "alice@example.com", "corporate");
  const std::string alice = v.Token("alice@example.com");

  SECTION("a body over 16 KiB: 413") {
    std::string body =
        R"({"serial":"C02X","pad":")" + std::string(std::size_t{17} * 1024, 'x') + "\"}";
    HttpResult r = v.Mdm("PUT", "/v1/devices/mac2", body);
    CHECK(r.status == 413);
    CHECK(ErrCode(r) == "payload_too_large");
    CHECK(r.headers["cache-control"] == "no-store");
    // The connection closed, the server lives on.
    CHECK(v.Mdm("GET", "/v1/devices/mac1").status == 200);
  }
  SECTION("headers over 8 KiB: 431 (401 first without a certificate)") {
    Call c;
    c.path = "/v1/devices/mac1";
    c.who = "mdm";
    c.extra_headers = {"X-Pad: " + std::string(std::size_t{9} * 1024, 'y')};
    HttpResult r = v.Request(c);
    CHECK(r.status == 431);
    CHECK(ErrCode(r) == "headers_too_large");
    c.who = "";
    CHECK(v.Request(c).status == 401);
  }
  SECTION("malformed JSON: 400") {
    for (const char* body : {"{", "not json", "[]", R"({"serial":"a",})", "\"str\""}) {
      CAPTURE(body);
      HttpResult r = v.Mdm("PUT", "/v1/devices/mac2", std::string(body));
      CHECK(r.status == 400);
      CHECK(ErrCode(r) == "invalid_request");
    }
  }
  SECTION("missing fields and wrong JSON types: 400") {
    for (const std::string& body :
         {std::string(R"({"serial":"s","name":"n","platform":"macos","ownership":"corporate","owner":"a"})"),
          std::string(R"({"serial":7,"name":"n","platform":"macos","ownership":"corporate","owner":"a","encryption_enabled":true})"),
          std::string(R"({"serial":"s","name":"n","platform":"macos","ownership":"corporate","owner":"a","encryption_enabled":1})"),
          std::string(R"({"serial":"s","name":"n","platform":"beos","ownership":"corporate","owner":"a","encryption_enabled":true})")}) {
      CAPTURE(body);
      HttpResult r = v.Mdm("PUT", "/v1/devices/mac2", body);
      CHECK(r.status == 400);
      CHECK(ErrCode(r) == "invalid_request");
    }
    HttpResult r = v.As(alice, "PUT", "/v1/devices/mac1/recovery-key", R"({"recovery_key":42})");
    CHECK(r.status == 400);
    r = v.As(alice, "POST", "/v1/devices/mac1/recovery-key/retrieve", R"({"version":"1"})");
    CHECK(r.status == 400);
    r = v.As(alice, "POST", "/v1/devices/mac1/recovery-key/retrieve", R"({"version":0})");
    CHECK(r.status == 400);
  }
  SECTION("a body that is not application/json: 415") {
    Call c;
    c.method = "PUT";
    c.path = "/v1/devices/mac2";
    c.who = "mdm";
    c.body = DeviceBody("bob@example.com");
    c.content_type = "text/plain";
    HttpResult r = v.Request(c);
    CHECK(r.status == 415);
    CHECK(ErrCode(r) == "unsupported_media_type");
    c.content_type = "application/json; charset=utf-8";
    CHECK(v.Request(c).status == 201);
  }
  SECTION("unknown routes: 404 not_found; known paths with other methods: 405 with Allow") {
    HttpResult r = v.Mdm("GET", "/v1/nothing");
    CHECK(r.status == 404);
    CHECK(ErrCode(r) == "not_found");
    CHECK(v.Mdm("GET", "/v2/health").status == 404);
    r = v.Mdm("DELETE", "/v1/devices/mac1");
    CHECK(r.status == 405);
    CHECK(ErrCode(r) == "method_not_allowed");
    CHECK(r.headers["allow"] == "GET, PUT");
    r = v.Mdm("POST", "/v1/health");
    CHECK(r.status == 405);
    CHECK(r.headers["allow"] == "GET");
  }
  SECTION("invalid audit parameters: 400") {
    const std::string admin = v.Token("root@example.com", "--roles admin");
    CHECK(v.As(admin, "GET", "/v1/audit?limit=0").status == 400);
    CHECK(v.As(admin, "GET", "/v1/audit?limit=1001").status == 400);
    CHECK(v.As(admin, "GET", "/v1/audit?after=x").status == 400);
    CHECK(v.As(admin, "GET", "/v1/audit?limit=1000").status == 200);
  }
  CHECK(v.Stop() == 0);
}

}  // namespace
}  // namespace escrow::e2e
