#include "portal/http_message.h"

#include <catch2/catch.hpp>

namespace escrow::portal {
namespace {

TEST_CASE("CookieValue finds one cookie among several", "[portal][http]") {
  const std::string header = "a=1; __Host-portal-session=abc_-; b=2";
  CHECK(CookieValue(header, "__Host-portal-session") == "abc_-");
  CHECK(CookieValue(header, "a") == "1");
  CHECK_FALSE(CookieValue(header, "portal-session").has_value());
  CHECK_FALSE(CookieValue("", "a").has_value());
}

TEST_CASE("FormValue decodes form fields and refuses bad percent-encoding", "[portal][http]") {
  CHECK(FormValue("user=alice&csrf=x%2By+z", "csrf") == "x+y z");
  CHECK(FormValue("user=alice&csrf=", "csrf") == "");
  CHECK(FormValue("user", "user") == "");
  CHECK_FALSE(FormValue("user=alice", "csrf").has_value());
  CHECK_FALSE(FormValue("csrf=%4", "csrf").has_value());
  CHECK_FALSE(FormValue("csrf=%zz", "csrf").has_value());
}

TEST_CASE("UrlEncode keeps unreserved characters only", "[portal][http]") {
  CHECK(UrlEncode("a-b_c.d~e") == "a-b_c.d~e");
  CHECK(UrlEncode("a b/c?d=e&f") == "a%20b%2Fc%3Fd%3De%26f");
}

TEST_CASE("JsonError and Redirect build the answers the pages expect", "[portal][http]") {
  PortalResponse e = JsonError(403, "forbidden", "No.");
  CHECK(e.status == 403);
  CHECK(e.body == R"({"error":{"code":"forbidden","message":"No."}})");
  PortalResponse r = Redirect("/signin");
  CHECK(r.status == 303);
  REQUIRE(r.headers.size() == 1);
  CHECK(r.headers[0] == std::pair<std::string, std::string>{"Location", "/signin"});
}

}  // namespace
}  // namespace escrow::portal
