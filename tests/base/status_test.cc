#include "base/status.h"

#include <catch2/catch.hpp>

#include "base/result.h"

namespace escrow {
namespace {

Result<int> Half(int v) {
  if (v % 2 != 0) return Status::InvalidArgument("odd", "invalid_request");
  return v / 2;
}

Result<int> Quarter(int v) {
  ESCROW_ASSIGN_OR_RETURN(int h, Half(v));
  return Half(h);
}

TEST_CASE("Status carries code, message and API reason", "[base][status]") {
  Status s = Status::PermissionDenied("helpdesk on personal", "personal_device");
  CHECK_FALSE(s.ok());
  CHECK(s.code() == Code::kPermissionDenied);
  CHECK(s.reason() == "personal_device");
  CHECK(s.ToString() == "kPermissionDenied(personal_device): helpdesk on personal");
  CHECK(s.WithContext("retrieve").message() == "retrieve: helpdesk on personal");
  Status r = Status::ResourceExhausted("slow down", 42, "rate_limited");
  CHECK(r.retry_after_seconds() == 42);
  CHECK(Status::Ok().ok());
}

TEST_CASE("Result holds a value or an error and propagates errors", "[base][status]") {
  CHECK(*Quarter(8) == 2);
  Result<int> bad = Quarter(6);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().code() == Code::kInvalidArgument);
  CHECK(bad.status().reason() == "invalid_request");
}

}  // namespace
}  // namespace escrow
