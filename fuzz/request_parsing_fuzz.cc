// Fuzzes the request-body and query parsers of api/request_parsing with the same bytes:
// every parser either accepts or answers a 4xx HttpError, never crashes, leaks or hangs; and
// the audit trail's EscapeText, whose output must be clean UTF-8 within its bound.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "api/request_parsing.h"
#include "base/bytes.h"
#include "base/utf8.h"

namespace {

void Require(bool ok) {
  if (!ok) std::abort();
}

template <class T>
void RequireClientError(const escrow::api::Parsed<T>& p) {
  if (!p.ok()) Require(p.error.status >= 400 && p.error.status < 500 && !p.error.code.empty());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace api = escrow::api;
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  RequireClientError(api::ParseDeviceSpec(text));
  RequireClientError(api::ParseStoreKey(text));
  RequireClientError(api::ParseRetrieve(text));
  if (auto e = api::CheckEmptyObject(text)) Require(e->status == 400);
  if (auto e = api::CheckBodyType(text, text)) Require(e->status == 415);
  (void)api::IsJsonContentType(text);

  if (auto query = api::ParseQuery(text)) {
    RequireClientError(api::ParseAuditQuery(*query));
    RequireClientError(api::ParseDevicePageQuery(*query));
  }
  // What the audit trail keeps of any bytes: clean UTF-8 within the bound.
  for (std::size_t max : {std::size_t{0}, std::size_t{5}, std::size_t{160}}) {
    const std::string escaped = escrow::EscapeText(text, max);
    Require(escaped.size() <= max && escrow::IsCleanUtf8(escrow::AsBytes(escaped)));
  }
  return 0;
}
