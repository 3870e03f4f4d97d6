#include "api/json_views.h"

#include <catch2/catch.hpp>
#include <boost/json.hpp>

namespace escrow::api {
namespace {

TEST_CASE("DeviceJson has every field of API.md, nulls included", "[api][json]") {
  vault::Device d;
  d.id = "mac1";
  d.serial = "C02X";
  d.owner = "alice";
  boost::json::object o = DeviceJson(d);
  for (const char* f : {"id", "serial", "name", "platform", "ownership", "owner",
                        "encryption_enabled", "has_recovery_key", "key_version", "key_stored_at",
                        "rotation_pending", "last_checkin_at", "escrow_verified_at"}) {
    CAPTURE(f);
    CHECK(o.contains(f));
  }
  CHECK(o["key_version"].is_null());
  CHECK(o["platform"] == "macos");
  d.key_version = 3;
  d.key_stored_at = FromUnixSeconds(0);
  o = DeviceJson(d);
  CHECK(o["key_version"] == 3);
  CHECK(o["key_stored_at"] == "1970-01-01T00:00:00Z");
  CHECK(o["escrow_verified_at"].is_null());
  d.escrow_verified_at = FromUnixSeconds(60);
  CHECK(DeviceJson(d)["escrow_verified_at"] == "1970-01-01T00:01:00Z");
}

TEST_CASE("DevicePageJson always has next_after, null on the last page", "[api][json]") {
  vault::DevicePage page;
  page.devices.resize(2);
  page.devices[0].id = "mac1";
  page.devices[1].id = "mac2";
  boost::json::object o = DevicePageJson(page);
  REQUIRE(o["devices"].as_array().size() == 2);
  CHECK(o["devices"].as_array()[1].at("id") == "mac2");
  REQUIRE(o.contains("next_after"));
  CHECK(o["next_after"].is_null());
  page.next_after = "mac2";
  CHECK(DevicePageJson(page)["next_after"] == "mac2");
}

TEST_CASE("VersionsJson gives key_id and source, null where a version has none",
          "[api][json][key_id]") {
  std::vector<vault::VersionInfo> versions(2);
  versions[1].key_id = "1A2B3C4D-5E6F-7A8B-9C0D-1E2F3A4B5C6D";
  versions[1].source = vault::KeySource::kCms;
  const boost::json::object o = VersionsJson(versions);
  const boost::json::array& arr = o.at("versions").as_array();
  REQUIRE(arr.size() == 2);
  CHECK(arr[0].at("key_id").is_null());
  CHECK(arr[0].at("source").is_null());
  CHECK(arr[1].at("key_id") == "1A2B3C4D-5E6F-7A8B-9C0D-1E2F3A4B5C6D");
  CHECK(arr[1].at("source") == "cms");
  versions[0].source = vault::KeySource::kTyped;
  versions[1].source = vault::KeySource::kMdm;
  const boost::json::object again = VersionsJson(versions);
  CHECK(again.at("versions").at(0).at("source") == "typed");
  CHECK(again.at("versions").at(1).at("source") == "mdm");
}

TEST_CASE("VersionsJson gives stored_by as it is and stored_by_kind beside it, null for versions "
          "stored before the kind was recorded",
          "[api][json]") {
  std::vector<vault::VersionInfo> versions(3);
  for (vault::VersionInfo& v : versions) v.stored_by = "mdm";
  versions[0].version = 1;
  versions[1].version = 2;
  versions[1].stored_by_kind = vault::PrincipalKind::kUser;
  versions[2].version = 3;
  versions[2].stored_by_kind = vault::PrincipalKind::kClient;
  const boost::json::object o = VersionsJson(versions);
  const boost::json::array& arr = o.at("versions").as_array();
  REQUIRE(arr.size() == 3);
  for (const boost::json::value& v : arr) {
    for (const char* f : {"version", "state", "stored_at", "stored_by", "stored_by_kind"}) {
      CAPTURE(f);
      CHECK(v.as_object().contains(f));
    }
    CHECK(v.at("stored_by") == "mdm");
  }
  CHECK(arr[0].at("stored_by_kind").is_null());
  CHECK(arr[1].at("stored_by_kind") == "user");
  CHECK(arr[2].at("stored_by_kind") == "client");
}

TEST_CASE("RetrievedKeyBody escapes the key and parses back", "[api][json]") {
  vault::RetrievedKey key;
  key.recovery_key = SecretBytes::CopyOf(std::string_view("pa\"ss\\wo\x01rd \xc3\xa9"));
  key.version = 2;
  key.expires_at = FromUnixSeconds(300);
  std::string body = RetrievedKeyBody(key);
  boost::json::value v = boost::json::parse(body);
  CHECK(v.at("recovery_key") == "pa\"ss\\wo\x01rd \xc3\xa9");
  CHECK(v.at("version") == 2);
  CHECK(v.at("expires_at") == "1970-01-01T00:05:00Z");
}

TEST_CASE("HealthJson shows components only when unavailable", "[api][json]") {
  vault::HealthReport ok;
  CHECK(boost::json::serialize(HealthJson(ok)) == R"({"status":"ok"})");
  vault::HealthReport bad;
  bad.ok = false;
  bad.hsm = "unavailable";
  CHECK(boost::json::serialize(HealthJson(bad)) ==
        R"({"status":"unavailable","hsm":"unavailable","database":"ok"})");
}

}  // namespace
}  // namespace escrow::api
