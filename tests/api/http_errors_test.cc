#include "api/http_errors.h"

#include <catch2/catch.hpp>

namespace escrow::api {
namespace {

TEST_CASE("ErrorFromStatus maps every Status code to its HTTP status", "[api][errors]") {
  struct Row {
    Status status;
    int http;
    const char* code;
  };
  const Row rows[] = {
      {Status::InvalidArgument("x"), 400, "invalid_request"},
      {Status::Unauthenticated("x"), 401, "unauthenticated"},
      {Status::PermissionDenied("x"), 403, "forbidden"},
      {Status::NotFound("x"), 404, "device_not_found"},
      {Status::FailedPrecondition("x"), 409, "conflict"},
      {Status::AlreadyExists("x"), 409, "conflict"},
      {Status::ResourceExhausted("x", 7), 429, "rate_limited"},
      {Status::DataLoss("x"), 500, "integrity_error"},
      {Status::Unavailable("x"), 503, "unavailable"},
      {Status::Internal("x"), 500, "internal"},
  };
  for (const Row& row : rows) {
    HttpError e = ErrorFromStatus(row.status);
    CHECK(e.status == row.http);
    CHECK(e.code == row.code);
    CHECK_FALSE(e.message.empty());
  }
}

TEST_CASE("ErrorFromStatus uses the reason as the code when it fits the status", "[api][errors]") {
  CHECK(ErrorFromStatus(Status::InvalidArgument("m", "keys_mismatch")).code == "keys_mismatch");
  CHECK(ErrorFromStatus(Status::PermissionDenied("m", "personal_device")).code == "personal_device");
  CHECK(ErrorFromStatus(Status::NotFound("m", "recovery_key_not_found")).code ==
        "recovery_key_not_found");
  CHECK(ErrorFromStatus(Status::FailedPrecondition("m", "device_not_synced")).code ==
        "device_not_synced");
  CHECK(ErrorFromStatus(Status::FailedPrecondition("m", "encryption_not_enabled")).code ==
        "encryption_not_enabled");
  SECTION("a reason meant for another status is not used") {
    CHECK(ErrorFromStatus(Status::NotFound("m", "personal_device")).code == "device_not_found");
    CHECK(ErrorFromStatus(Status::DataLoss("tag failed on row 7", "whatever")).code ==
          "integrity_error");
  }
}

TEST_CASE("ErrorFromStatus writes API.md's messages, never internals", "[api][errors]") {
  HttpError e = ErrorFromStatus(Status::DataLoss("GCM tag mismatch on device mac1 v2"));
  CHECK(e.message == "A stored record failed its integrity check.");
  e = ErrorFromStatus(Status::Unavailable("C_Decrypt: CKR_DEVICE_REMOVED"));
  CHECK(e.message == "The HSM or the database is unavailable; nothing was changed.");
  e = ErrorFromStatus(Status::InvalidArgument("anything", "keys_mismatch"));
  CHECK(e.message == "Keys must match. Check keys and try again.");
  e = ErrorFromStatus(Status::PermissionDenied("x", "personal_device"));
  CHECK(e.message == "IT support can't view recovery keys of personal devices.");
  e = ErrorFromStatus(Status::Internal("sqlite3_step: disk I/O error"));
  CHECK(e.message.find("sqlite") == std::string::npos);
}

TEST_CASE("503s of the store route are store_failed, all others unavailable", "[api][errors]") {
  HttpError e = ErrorFromStatus(Status::Unavailable("busy", "unavailable"), true);
  CHECK(e.status == 503);
  CHECK(e.code == "store_failed");
  CHECK(e.message == "Couldn't update the recovery key for this device.");
  e = ErrorFromStatus(Status::Unavailable("busy", "store_failed"), false);
  CHECK(e.code == "unavailable");
}

TEST_CASE("429 carries the seconds to wait", "[api][errors]") {
  CHECK(ErrorFromStatus(Status::ResourceExhausted("quota", 3600)).retry_after_seconds == 3600);
  CHECK(ErrorFromStatus(Status::ResourceExhausted("quota", 0)).retry_after_seconds == 1);
}

TEST_CASE("ErrorBody is API.md's error shape", "[api][errors]") {
  CHECK(ErrorBody(MakeError(404, "not_found")) ==
        R"({"error":{"code":"not_found","message":"No such route."}})");
}

TEST_CASE("invalid_cms is one 400 with API.md's one message", "[api][errors][cms]") {
  const HttpError e = ErrorFromStatus(
      Status::InvalidArgument("the envelope does not open", "invalid_cms"), /*store_route=*/true);
  CHECK(e.status == 400);
  CHECK(e.code == "invalid_cms");
  CHECK(e.message == "The escrowed key envelope could not be opened.");
}

}  // namespace
}  // namespace escrow::api
