#include "api/request_parsing.h"

#include <catch2/catch.hpp>

namespace escrow::api {
namespace {

constexpr const char* kDevice =
    R"({"serial":"C02X","name":"Work Mac","platform":"macos","ownership":"corporate",)"
    R"("owner":"alice@example.com","encryption_enabled":true})";

TEST_CASE("IsJsonContentType accepts application/json with parameters", "[api][parsing]") {
  CHECK(IsJsonContentType("application/json"));
  CHECK(IsJsonContentType("Application/JSON; charset=utf-8"));
  CHECK(IsJsonContentType(" application/json ;charset=UTF-8"));
  CHECK_FALSE(IsJsonContentType("text/plain"));
  CHECK_FALSE(IsJsonContentType("application/jsonx"));
  CHECK_FALSE(IsJsonContentType("application/x-www-form-urlencoded"));
  CHECK_FALSE(IsJsonContentType(""));
}

TEST_CASE("CheckBodyType answers 415 for a body that is not JSON", "[api][parsing]") {
  CHECK_FALSE(CheckBodyType("", "").has_value());
  CHECK_FALSE(CheckBodyType("{}", "application/json").has_value());
  std::optional<HttpError> e = CheckBodyType("{}", "text/plain");
  REQUIRE(e);
  CHECK(e->status == 415);
  CHECK(e->code == "unsupported_media_type");
  CHECK(CheckBodyType("{}", "")->status == 415);
}

TEST_CASE("ParseDeviceSpec reads all six fields", "[api][parsing]") {
  Parsed<vault::DeviceSpec> p = ParseDeviceSpec(kDevice);
  REQUIRE(p.ok());
  CHECK(p.value->serial == "C02X");
  CHECK(p.value->name == "Work Mac");
  CHECK(p.value->platform == vault::Platform::kMacos);
  CHECK(p.value->ownership == vault::Ownership::kCorporate);
  CHECK(p.value->owner == "alice@example.com");
  CHECK(p.value->encryption_enabled);
  SECTION("unknown fields are ignored") {
    std::string body = kDevice;
    body.insert(1, R"("color":"red",)");
    CHECK(ParseDeviceSpec(body).ok());
  }
}

TEST_CASE("ParseDeviceSpec rejects missing fields, wrong types and bad values", "[api][parsing]") {
  for (const char* body : {
           R"({"name":"n","platform":"macos","ownership":"corporate","owner":"a","encryption_enabled":true})",
           R"({"serial":"s","name":"n","platform":"macos","ownership":"corporate","owner":"a"})",
           R"({"serial":1,"name":"n","platform":"macos","ownership":"corporate","owner":"a","encryption_enabled":true})",
           R"({"serial":"s","name":"n","platform":"macos","ownership":"corporate","owner":"a","encryption_enabled":"true"})",
           R"({"serial":"s","name":"n","platform":"amiga","ownership":"corporate","owner":"a","encryption_enabled":true})",
           R"({"serial":"s","name":"n","platform":"macos","ownership":"rented","owner":"a","encryption_enabled":true})",
           R"({"serial":"s","name":null,"platform":"macos","ownership":"corporate","owner":"a","encryption_enabled":true})",
           R"([1,2])", R"("x")", "{", "", "{\"serial\":\"s\",}", "nul"}) {
    CAPTURE(body);
    Parsed<vault::DeviceSpec> p = ParseDeviceSpec(body);
    CHECK_FALSE(p.ok());
    CHECK(p.error.status == 400);
    CHECK(p.error.code == "invalid_request");
    CHECK_FALSE(p.error.message.empty());
  }
}

TEST_CASE("ParseStoreKey puts the keys into SecretBytes", "[api][parsing]") {
  Parsed<StoreKeyBody> p = ParseStoreKey(
      R"({"recovery_key":"ABCD-EFGH","confirm_recovery_key":"abcd\u002defgh"})");
  REQUIRE(p.ok());
  CHECK(p.value->recovery_key.RevealSecretText() == "ABCD-EFGH");
  REQUIRE(p.value->confirm_recovery_key);
  CHECK(p.value->confirm_recovery_key->RevealSecretText() == "abcd-efgh");
  SECTION("confirmation is optional here (vault/ decides who needs it)") {
    Parsed<StoreKeyBody> q = ParseStoreKey(R"({"recovery_key":"k"})");
    REQUIRE(q.ok());
    CHECK_FALSE(q.value->confirm_recovery_key);
  }
  SECTION("types are strict") {
    CHECK_FALSE(ParseStoreKey(R"({"recovery_key":123})").ok());
    CHECK_FALSE(ParseStoreKey(R"({"recovery_key":"k","confirm_recovery_key":["k"]})").ok());
    CHECK_FALSE(ParseStoreKey(R"({})").ok());
    CHECK_FALSE(ParseStoreKey(R"({"recovery_key":"k")").ok());
  }
}

TEST_CASE("ParseStoreKey reads an optional key_id as text", "[api][parsing][key_id]") {
  Parsed<StoreKeyBody> p = ParseStoreKey(R"({"recovery_key":"k","key_id":"{abc}"})");
  REQUIRE(p.ok());
  CHECK(p.value->key_id == "{abc}");
  Parsed<StoreKeyBody> none = ParseStoreKey(R"({"recovery_key":"k","key_id":null})");
  REQUIRE(none.ok());
  CHECK_FALSE(none.value->key_id.has_value());
  for (const char* bad :
       {R"({"recovery_key":"k","key_id":7})", R"({"recovery_key":"k","key_id":[]})"}) {
    Parsed<StoreKeyBody> q = ParseStoreKey(bad);
    REQUIRE_FALSE(q.ok());
    CHECK(q.error.code == "invalid_request");
  }
}

TEST_CASE("ParseVerify puts the key into SecretBytes and reads an optional version",
          "[api][parsing][verify]") {
  Parsed<VerifyBody> p = ParseVerify(R"({"recovery_key":"ABCD","version":2})");
  REQUIRE(p.ok());
  CHECK(p.value->recovery_key.RevealSecretText() == "ABCD");
  CHECK(p.value->version == 2u);
  Parsed<VerifyBody> current = ParseVerify(R"({"recovery_key":"ABCD"})");
  REQUIRE(current.ok());
  CHECK_FALSE(current.value->version.has_value());
  for (const std::string& bad :
       {std::string(R"({})"), std::string(R"({"recovery_key":1})"),
        std::string(R"({"recovery_key":"k","version":0})"),
        std::string(R"({"recovery_key":"k","version":"1"})"),
        std::string(R"({"recovery_key":"k","version":99999999999})"),
        std::string(R"({"recovery_key":")") + std::string(513, 'a') + R"("})", std::string("[]"),
        std::string("")}) {
    CAPTURE(bad);
    Parsed<VerifyBody> q = ParseVerify(bad);
    REQUIRE_FALSE(q.ok());
    CHECK(q.error.code == "invalid_request");
  }
}

TEST_CASE("ParseRetrieve reads reason and version", "[api][parsing]") {
  Parsed<RetrieveBody> p = ParseRetrieve(R"({"reason":"locked out","version":2})");
  REQUIRE(p.ok());
  CHECK(p.value->reason == "locked out");
  CHECK(p.value->version == 2u);
  CHECK(ParseRetrieve("").ok());
  CHECK(ParseRetrieve("{}").ok());
  for (const char* bad : {R"({"version":0})", R"({"version":-1})", R"({"version":1.5})",
                          R"({"version":"1"})", R"({"version":true})",
                          R"({"version":18446744073709551615})", R"({"version":4294967296})",
                          R"({"reason":5})", "[]"}) {
    CAPTURE(bad);
    CHECK_FALSE(ParseRetrieve(bad).ok());
  }
}

TEST_CASE("Dual control's bodies and query are parsed strictly", "[api][parsing]") {
  Parsed<RetrieveBody> r = ParseRetrieve(R"({"reason":"x","access_request":"ab12"})");
  REQUIRE(r.ok());
  CHECK(r.value->access_request == "ab12");
  CHECK_FALSE(ParseRetrieve(R"({"access_request":5})").ok());

  Parsed<AccessRequestBody> a = ParseAccessRequest(R"({"reason":"ticket","version":3})");
  REQUIRE(a.ok());
  CHECK(a.value->reason == "ticket");
  CHECK(a.value->version == 3u);
  CHECK(ParseAccessRequest("").ok());
  CHECK_FALSE(ParseAccessRequest(R"({"version":0})").ok());
  CHECK_FALSE(ParseAccessRequest(R"({"reason":[]})").ok());

  Parsed<std::string> note = ParseDecisionNote(R"({"note":"call back"})");
  REQUIRE(note.ok());
  CHECK(*note.value == "call back");
  CHECK(ParseDecisionNote("").value == std::string());
  CHECK_FALSE(ParseDecisionNote(R"({"note":1})").ok());

  Parsed<AccessRequestQuery> q =
      ParseAccessRequestQuery({{"state", "approved"}, {"after", "7"}, {"limit", "5"}});
  REQUIRE(q.ok());
  CHECK(q.value->state == storage::AccessRequestState::kApproved);
  CHECK(q.value->after == 7u);
  CHECK(q.value->limit == 5u);
  CHECK_FALSE(ParseAccessRequestQuery({{"state", "open"}}).ok());
  CHECK_FALSE(ParseAccessRequestQuery({{"limit", "0"}}).ok());
  CHECK_FALSE(ParseAccessRequestQuery({{"after", "-1"}}).ok());
}

TEST_CASE("ParseQuery decodes and rejects repeats and bad escapes", "[api][parsing]") {
  auto q = ParseQuery("owner=alice%40example.com&serial=C02X");
  REQUIRE(q);
  CHECK(q->at("owner") == "alice@example.com");
  CHECK(q->at("serial") == "C02X");
  CHECK_FALSE(ParseQuery("owner=a&owner=b"));
  CHECK_FALSE(ParseQuery("owner=%4"));
  CHECK_FALSE(ParseQuery("owner=%zz"));
  CHECK(ParseQuery("")->empty());
}

TEST_CASE("ParseAuditQuery validates after and limit", "[api][parsing]") {
  auto parse = [](const char* q) { return ParseAuditQuery(*ParseQuery(q)); };
  Parsed<AuditQuery> p = parse("");
  REQUIRE(p.ok());
  CHECK(p.value->limit == 100);
  CHECK(p.value->after == 0);
  p = parse("device_id=mac1&after=42&limit=1000");
  REQUIRE(p.ok());
  CHECK(*p.value->device_id == "mac1");
  CHECK(p.value->after == 42);
  CHECK(p.value->limit == 1000);
  for (const char* bad : {"limit=0", "limit=1001", "limit=x", "after=-1", "after=1e3", "limit=",
                          "device_id="}) {
    CAPTURE(bad);
    CHECK(parse(bad).error.status == 400);
  }
}

TEST_CASE("ParseAccessesQuery validates after and limit", "[api][parsing]") {
  auto parse = [](const char* q) { return ParseAccessesQuery(*ParseQuery(q)); };
  Parsed<AccessesQuery> p = parse("");
  REQUIRE(p.ok());
  CHECK(p.value->limit == 100);
  CHECK_FALSE(p.value->after.has_value());
  p = parse("after=42&limit=1000&other=x");
  REQUIRE(p.ok());
  CHECK(p.value->after == std::uint64_t{42});
  CHECK(p.value->limit == 1000);
  for (const char* bad : {"limit=0", "limit=1001", "limit=x", "after=-1", "after=1e3", "limit=",
                          "after="}) {
    CAPTURE(bad);
    CHECK(parse(bad).error.status == 400);
  }
}


TEST_CASE("Request bodies that repeat a JSON key are refused", "[api][parsing]") {
  const std::string dup_device =
      R"({"serial":"C02X","name":"Work Mac","platform":"macos","ownership":"corporate",)"
      R"("owner":"alice","owner":"mallory","encryption_enabled":true})";
  Parsed<vault::DeviceSpec> d = ParseDeviceSpec(dup_device);
  REQUIRE_FALSE(d.ok());
  CHECK(d.error.status == 400);
  CHECK(d.error.code == "invalid_request");
  CHECK(d.error.message == "the body repeats a JSON key");
  CHECK_FALSE(ParseStoreKey(R"({"recovery_key":"a","recovery_key":"b"})").ok());
  CHECK_FALSE(ParseRetrieve(R"({"reason":"x","version":1,"version":2})").ok());
  CHECK(CheckEmptyObject(R"({"a":{"b":1,"b":2}})").has_value());
  CHECK(ParseDeviceSpec(kDevice).ok());
}

TEST_CASE("ParseStoreKey refuses key fields longer than any key format before copying them",
          "[api][parsing]") {
  const std::string ok(512, 'k');
  const std::string big(513, 'k');
  CHECK(ParseStoreKey(R"({"recovery_key":")" + ok + R"(","confirm_recovery_key":")" + ok +
                      R"("})")
            .ok());
  for (const std::string& body :
       {R"({"recovery_key":")" + big + R"("})",
        R"({"recovery_key":"k","confirm_recovery_key":")" + big + R"("})",
        R"({"recovery_key":")" + std::string(15000, 'k') + R"("})"}) {
    Parsed<StoreKeyBody> p = ParseStoreKey(body);
    REQUIRE_FALSE(p.ok());
    CHECK(p.error.status == 400);
    CHECK(p.error.code == "invalid_request");
  }
}

TEST_CASE("ParseDevicePageQuery validates after and limit", "[api][parsing]") {
  auto parse = [](const std::string& q) { return ParseDevicePageQuery(*ParseQuery(q)); };
  Parsed<DevicePageQuery> p = parse("owner=me");
  REQUIRE(p.ok());
  CHECK(p.value->limit == 100);
  CHECK_FALSE(p.value->after.has_value());
  p = parse("after=mac-1.a_b&limit=1000&serial=S");
  REQUIRE(p.ok());
  CHECK(p.value->after == "mac-1.a_b");
  CHECK(p.value->limit == 1000);
  CHECK(parse("limit=1").value->limit == 1);
  for (const std::string& bad :
       {std::string("limit=0"), std::string("limit=1001"), std::string("limit=x"),
        std::string("limit="), std::string("limit=-1"), std::string("limit=%2B5"),
        std::string("limit=18446744073709551617"), std::string("after="),
        std::string("after=a%20b"), std::string("after=a/b"), std::string("after=%FF"),
        "after=" + std::string(129, 'a')}) {
    CAPTURE(bad);
    Parsed<DevicePageQuery> r = parse(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error.status == 400);
    CHECK(r.error.code == "invalid_request");
  }
  CHECK(parse("after=" + std::string(128, 'a')).ok());
}

TEST_CASE("ParseAuditQuery refuses a device_id that breaks the id rule", "[api][parsing]") {
  auto parse = [](const std::string& q) { return ParseAuditQuery(*ParseQuery(q)); };
  CHECK(parse("device_id=mac-1.a_b").ok());
  for (const char* q : {"device_id=", "device_id=%FF", "device_id=a%20b", "device_id=a/b"}) {
    INFO(q);
    CHECK_FALSE(parse(q).ok());
  }
  CHECK_FALSE(parse("device_id=" + std::string(129, 'a')).ok());
}

TEST_CASE("ParseStoreCms reads cms and an optional key_id, and nothing else",
          "[api][parsing][cms]") {
  Parsed<StoreCmsBody> p = ParseStoreCms(R"({"cms":"MAA=","key_id":"k1"})");
  REQUIRE(p.ok());
  CHECK(p.value->cms == "MAA=");
  CHECK(p.value->key_id == "k1");
  Parsed<StoreCmsBody> q = ParseStoreCms(R"({"cms":"MAA="})");
  REQUIRE(q.ok());
  CHECK_FALSE(q.value->key_id);
  for (const char* bad : {R"({})", R"({"cms":1})", R"({"cms":"MAA=","key_id":2})",
                          R"({"cms":"MAA=","recovery_key":"k"})", R"({"cms":"a","cms":"b"})",
                          R"(["cms"])", R"({"cms":"MAA=")"}) {
    INFO(bad);
    Parsed<StoreCmsBody> r = ParseStoreCms(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error.status == 400);
    CHECK(r.error.code == "invalid_request");
  }
}

}  // namespace
}  // namespace escrow::api
