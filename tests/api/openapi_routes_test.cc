// api/openapi.yaml against the one route table (api/routes.cc): every route is documented and
// every documented operation is a route, method and path template alike.

#include <array>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <string_view>

#include <catch2/catch.hpp>

#include "api/routes.h"

namespace escrow::api {
namespace {

// "GET /v1/devices/{id}" for each operation under `paths:` of an OpenAPI document in the
// layout api/openapi.yaml promises at its top: a path is a line of two spaces, the path and a
// colon; an operation a line of four spaces, a lower-case method and a colon. This is not a
// YAML parser: anything else at those two levels is an error (`error` says which line), so a
// route written some other way fails the test rather than going unseen. openapi_lint.py checks
// that a YAML parser sees the same paths and methods on those lines.
std::set<std::string> ReadDocumentedRoutes(std::string_view text, std::string& error) {
  static const std::set<std::string_view> kMethods{"get",     "put",  "post",  "delete",
                                                   "options", "head", "patch", "trace"};
  static const std::set<std::string_view> kOtherPathItemKeys{"parameters", "summary", "description",
                                                             "servers"};
  std::set<std::string> routes;
  std::istringstream in{std::string(text)};
  std::string line;
  bool in_paths = false;
  std::string path;
  int number = 0;
  auto fail = [&](std::string_view why) {
    error = "line " + std::to_string(number) + ": " + std::string(why) + ": " + line;
    return std::set<std::string>{};
  };
  while (std::getline(in, line)) {
    ++number;
    const std::size_t indent = line.find_first_not_of(' ');
    if (indent == std::string::npos || line[indent] == '#') continue;  // blank or comment
    if (indent == 0) {
      in_paths = line == "paths:";
      continue;
    }
    if (!in_paths || indent > 4) continue;
    const bool key_line = line.back() == ':';
    const std::string key = line.substr(indent, line.size() - indent - 1);
    if (indent == 2) {
      if (!key_line || key.empty() || key.front() != '/') return fail("not a path line");
      path = key;
    } else if (indent == 4) {
      if (path.empty()) return fail("a path item key outside a path");
      if (key_line && kMethods.contains(key)) {
        std::string method = key;
        for (char& c : method) c = static_cast<char>(c - 'a' + 'A');
        routes.insert(method + " " + path);
      } else if (!kOtherPathItemKeys.contains(line.substr(indent, line.find(':') - indent))) {
        return fail("not an operation line");
      }
    } else {
      return fail("indented by neither two nor four spaces");
    }
  }
  if (routes.empty()) error = "no operations under paths:";
  return routes;
}

std::string ReadFile(const char* path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

TEST_CASE("ReadDocumentedRoutes reads the operations of the documented layout", "[api][openapi]") {
  std::string error;
  const std::set<std::string> routes = ReadDocumentedRoutes(
      "openapi: 3.1.0\n"
      "paths:\n"
      "  /v1/a:\n"
      "    get:\n"
      "      operationId: a\n"
      "    parameters:\n"
      "      - name: id\n"
      "\n"
      "  # a comment\n"
      "  /v1/a/{id}/b:\n"
      "    summary: b\n"
      "    put:\n"
      "    post:\n"
      "components:\n"
      "  schemas:\n"
      "    get:\n",
      error);
  CHECK(error.empty());
  CHECK(routes == std::set<std::string>{"GET /v1/a", "PUT /v1/a/{id}/b", "POST /v1/a/{id}/b"});
}

TEST_CASE("ReadDocumentedRoutes refuses a route it could miss", "[api][openapi]") {
  struct Case {
    std::string_view what;
    std::string_view text;
    std::string_view error;  // how the error starts
  };
  const std::array cases{
      Case{"a quoted path", "paths:\n  '/v1/a':\n    get:\n", "line 2: not a path line"},
      Case{"an operation in flow style", "paths:\n  /v1/a:\n    get: {responses: {}}\n",
           "line 3: not an operation line"},
      Case{"an upper-case method", "paths:\n  /v1/a:\n    GET:\n", "line 3: not an operation line"},
      Case{"an odd indent", "paths:\n  /v1/a:\n   get:\n", "line 3: indented by neither"},
      Case{"no operation at all", "paths:\n  /v1/a:\n    summary: x\n",
           "no operations under paths:"},
  };
  for (const Case& c : cases) {
    INFO(c.what);
    std::string error;
    CHECK(ReadDocumentedRoutes(c.text, error).empty());
    CHECK(error.starts_with(c.error));
  }
}

TEST_CASE("api/openapi.yaml documents exactly the routes of the route table", "[api][openapi]") {
  const std::string text = ReadFile(ESCROW_OPENAPI_YAML);
  REQUIRE_FALSE(text.empty());
  std::string error;
  const std::set<std::string> documented = ReadDocumentedRoutes(text, error);
  INFO(ESCROW_OPENAPI_YAML << ": " << error);
  REQUIRE(error.empty());
  std::set<std::string> routed;
  for (const RouteDef& r : RouteTable()) {
    routed.insert(std::string(r.method) + " " + std::string(r.path));
  }
  for (const std::string& route : routed) {
    INFO("in api/routes.cc, not in api/openapi.yaml: " << route);
    CHECK(documented.contains(route));
  }
  for (const std::string& route : documented) {
    INFO("in api/openapi.yaml, not in api/routes.cc: " << route);
    CHECK(routed.contains(route));
  }
  CHECK(documented.size() == RouteTable().size());  // no route twice in the table
}

}  // namespace
}  // namespace escrow::api
