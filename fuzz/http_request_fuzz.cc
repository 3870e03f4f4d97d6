// Fuzzes the HTTP request path without sockets: raw bytes go through Beast's request_parser
// with the server's limits (HttpsSession: 8 KiB of headers, 16 KiB of body), fed in chunks as
// a network would deliver them (byte 0 picks the chunk size), then the parsed request goes
// through what RequestHandler does before the escrow service: the target split at '?', the
// router, the query parser and the body parser of the matched route. The service itself
// (HSM, database) is not reached; tests/api and tests/e2e cover it.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>

#include "api/request_parsing.h"
#include "api/routes.h"

namespace {

namespace http = boost::beast::http;
namespace api = escrow::api;

constexpr std::size_t kBodyLimit = 16 * 1024;      // HttpsSession::kBodyLimit
constexpr std::uint32_t kHeaderLimit = 8 * 1024;   // HttpsSession::kHeaderLimit

void Require(bool ok) {
  if (!ok) std::abort();
}

void Route(const http::request<http::string_body>& msg) {
  const std::string_view target(msg.target().data(), msg.target().size());
  const std::size_t qpos = target.find('?');
  const std::string_view path = target.substr(0, qpos);
  const std::string_view query =
      qpos == std::string_view::npos ? std::string_view{} : target.substr(qpos + 1);
  const std::string_view method(msg.method_string().data(), msg.method_string().size());
  const api::RouteMatch route = api::MatchRoute(method, path);
  if (route.id == api::RouteId::kNone) {
    Require(!route.path_known || !route.allow.empty());
    return;
  }
  Require(route.device_id.size() <= path.size());
  const std::string& body = msg.body();
  std::string content_type;
  if (auto it = msg.find(http::field::content_type); it != msg.end()) {
    content_type = std::string(it->value());
  }
  (void)api::CheckBodyType(body, content_type);
  switch (route.id) {
    case api::RouteId::kPutDevice: (void)api::ParseDeviceSpec(body); break;
    case api::RouteId::kStoreKey: (void)api::ParseStoreKey(body); break;
    case api::RouteId::kRetrieveKey: (void)api::ParseRetrieve(body); break;
    case api::RouteId::kCheckIn:
    case api::RouteId::kRotateKey: (void)api::CheckEmptyObject(body); break;
    case api::RouteId::kListAudit:
    case api::RouteId::kListDevices:
      if (auto q = api::ParseQuery(query)) (void)api::ParseAuditQuery(*q);
      break;
    case api::RouteId::kListEvents:
      if (auto q = api::ParseQuery(query)) (void)api::ParseEventQuery(*q);
      break;
    default: break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::size_t chunk = 1 + data[0] % 64;
  std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  // Keep-alive: several requests may follow each other on one connection.
  for (int request = 0; request < 4 && !rest.empty(); ++request) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(kBodyLimit);
    parser.header_limit(kHeaderLimit);
    parser.eager(true);
    std::string pending;
    boost::beast::error_code ec;
    std::size_t offered = 0;
    while (!parser.is_done()) {
      if (offered < rest.size()) {
        const std::size_t n = std::min(chunk, rest.size() - offered);
        pending.append(rest.substr(offered, n));
        offered += n;
      } else if (pending.empty()) {
        parser.put_eof(ec);
        break;
      }
      const std::size_t used = parser.put(boost::asio::buffer(pending), ec);
      pending.erase(0, used);
      if (ec == http::error::need_more) {
        ec = {};
        if (offered >= rest.size()) {
          parser.put_eof(ec);
          break;
        }
        continue;
      }
      if (ec) break;
    }
    if (ec || !parser.is_done()) return 0;
    const http::request<http::string_body>& msg = parser.get();
    Require(msg.body().size() <= kBodyLimit);
    Route(msg);
    rest.remove_prefix(offered - pending.size());
    if (!msg.keep_alive()) break;
  }
  return 0;
}
