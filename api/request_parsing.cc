#include "api/request_parsing.h"

#include <openssl/crypto.h>

#include <array>
#include <charconv>
#include <cstddef>
#include <limits>
#include <new>

#include <boost/json.hpp>

#include "auth/jwks.h"
#include "vault/escrow_service.h"
#include "vault/key_format.h"

namespace escrow::api {
namespace json = boost::json;
namespace {

constexpr std::size_t kMaxAuditLimit = 1000;

// Hands out heap blocks and wipes each one before giving it back, so the strings a JSON
// parse made of a recovery key do not linger in freed memory. Not thread-safe; one per parse.
// Every block gets one fixed alignment: Boost.JSON 1.81 frees some strings with a different
// alignment than it allocated them with (ASan: new-delete-type-mismatch).
class CleansingResource final : public json::memory_resource {
 private:
  static constexpr std::size_t kAlign = alignof(std::max_align_t);
  void* do_allocate(std::size_t bytes, std::size_t align) override {
    if (align > kAlign) throw std::bad_alloc();
    return ::operator new(bytes, std::align_val_t(kAlign));
  }
  void do_deallocate(void* p, std::size_t bytes, std::size_t /*align*/) override {
    OPENSSL_cleanse(p, bytes);
    ::operator delete(p, std::align_val_t(kAlign));
  }
  bool do_is_equal(const json::memory_resource& other) const noexcept override {
    return this == &other;
  }
};

HttpError Invalid(std::string_view message) { return MakeError(400, "invalid_request", message); }

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Parses `body` as one JSON object into `out` (allocated from `sp`, temporary buffers in
// `temp`). Returns an error text or "".
std::string ParseObject(std::string_view body, json::storage_ptr sp, std::span<unsigned char> temp,
                        json::value& out) {
  json::parse_options opts;
  opts.max_depth = 16;
  // The constructor's resource is only for scratch space; the value's strings come from the
  // one given to reset(). Without it a recovery key would sit in default-heap blocks that
  // are freed unwiped.
  json::parser p(sp, opts, temp.data(), temp.size());
  p.reset(std::move(sp));
  json::error_code ec;
  p.write(body.data(), body.size(), ec);
  if (ec) return "the body is not valid JSON";
  // boost::json keeps the last of repeated keys, other parsers the first: refuse them, so that
  // a frontend and the vault can never read different values out of one body.
  if (!auth::IsStrictJson(body, opts.max_depth)) return "the body repeats a JSON key";
  out = p.release();
  if (!out.is_object()) return "the body must be a JSON object";
  return {};
}

template <class T>
Parsed<T> Fail(HttpError e) {
  Parsed<T> p;
  p.error = std::move(e);
  return p;
}

// A required string field: "" error text when fine.
std::string GetString(const json::object& o, std::string_view name, bool required,
                      std::optional<std::string>& out) {
  const json::value* v = o.if_contains(name);
  if (v == nullptr || v->is_null()) {
    if (required) return "missing field: " + std::string(name);
    return {};
  }
  if (!v->is_string()) return "field " + std::string(name) + " must be a string";
  out = std::string(v->get_string());
  return {};
}

// An optional "version" field: 1 to 2^32-1. "" error text when fine.
std::string GetVersion(const json::object& o, std::optional<std::uint32_t>& out) {
  const json::value* ver = o.if_contains("version");
  if (ver == nullptr || ver->is_null()) return {};
  std::int64_t n = 0;
  if (ver->is_int64()) {
    n = ver->get_int64();
  } else if (ver->is_uint64()) {
    n = -1;  // far too large
  } else {
    return "field version must be an integer";
  }
  if (n < 1 || n > 0xffffffffLL) return "field version must be an integer of at least 1";
  out = static_cast<std::uint32_t>(n);
  return {};
}

// A query string's unsigned decimal number (a sequence number, a cursor or a limit): 1 to 19
// digits and nothing else, so that it always fits.
bool ParseCount(const std::string& s, std::uint64_t& out) {
  if (s.empty() || s.size() > 19) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

// The page of a listing by sequence number (audit, access requests, events): ?after=SEQ, at
// most 2^63-1 (what the store holds), and ?limit=N, 1 to 1000. Absent ones keep their value
// in `page`; a bad one is the 400 to answer (`after_error` names what `after` must be).
struct SeqPage {
  std::uint64_t after = 0;
  std::size_t limit = 100;
};
Parsed<SeqPage> ParseSeqPage(const std::map<std::string, std::string>& query, SeqPage page,
                             std::string_view after_error) {
  constexpr auto kMaxSeq = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  if (auto it = query.find("after"); it != query.end()) {
    if (!ParseCount(it->second, page.after) || page.after > kMaxSeq) {
      return Fail<SeqPage>(Invalid(after_error));
    }
  }
  if (auto it = query.find("limit"); it != query.end()) {
    std::uint64_t n = 0;
    if (!ParseCount(it->second, n) || n < 1 || n > kMaxAuditLimit) {
      return Fail<SeqPage>(Invalid("limit must be an integer from 1 to 1000"));
    }
    page.limit = static_cast<std::size_t>(n);
  }
  Parsed<SeqPage> out;
  out.value = page;
  return out;
}

}  // namespace

bool IsJsonContentType(std::string_view content_type) {
  std::string_view media = content_type.substr(0, content_type.find(';'));
  return Lower(Trim(media)) == "application/json";
}

std::optional<HttpError> CheckBodyType(std::string_view body, std::string_view content_type) {
  if (body.empty() && content_type.empty()) return std::nullopt;
  if (!IsJsonContentType(content_type)) return MakeError(415, "unsupported_media_type");
  return std::nullopt;
}

Parsed<vault::DeviceSpec> ParseDeviceSpec(std::string_view body) {
  std::array<unsigned char, 1024> temp{};
  json::value v;
  if (std::string err = ParseObject(body, {}, temp, v); !err.empty()) {
    return Fail<vault::DeviceSpec>(Invalid(err));
  }
  const json::object& o = v.get_object();
  vault::DeviceSpec spec;
  std::optional<std::string> serial, name, platform, ownership, owner;
  for (auto [field, out] : {std::pair{"serial", &serial}, std::pair{"name", &name},
                            std::pair{"platform", &platform}, std::pair{"ownership", &ownership},
                            std::pair{"owner", &owner}}) {
    if (std::string err = GetString(o, field, true, *out); !err.empty()) {
      return Fail<vault::DeviceSpec>(Invalid(err));
    }
  }
  const json::value* enc = o.if_contains("encryption_enabled");
  if (enc == nullptr || enc->is_null()) {
    return Fail<vault::DeviceSpec>(Invalid("missing field: encryption_enabled"));
  }
  if (!enc->is_bool()) {
    return Fail<vault::DeviceSpec>(Invalid("field encryption_enabled must be a boolean"));
  }
  std::optional<vault::Platform> pl = vault::ParsePlatform(*platform);
  if (!pl) return Fail<vault::DeviceSpec>(Invalid("platform must be macos, windows or linux"));
  std::optional<vault::Ownership> ow = vault::ParseOwnership(*ownership);
  if (!ow) return Fail<vault::DeviceSpec>(Invalid("ownership must be corporate or personal"));
  spec.serial = std::move(*serial);
  spec.name = std::move(*name);
  spec.platform = *pl;
  spec.ownership = *ow;
  spec.owner = std::move(*owner);
  spec.encryption_enabled = enc->get_bool();
  Parsed<vault::DeviceSpec> out;
  out.value = std::move(spec);
  return out;
}

Parsed<StoreKeyBody> ParseStoreKey(std::string_view body) {
  // The parser's scratch space (escaped strings are assembled there) and every block of the
  // parsed value are wiped before this returns.
  std::array<unsigned char, 4096> temp{};
  CleansingResource resource;
  Parsed<StoreKeyBody> out;
  {
    // Same resource as the parse: assigning across resources would copy the key to the heap.
    const json::storage_ptr storage(&resource);
    json::value v(storage);
    std::string err = ParseObject(body, storage, temp, v);
    if (err.empty()) {
      const json::object& o = v.get_object();
      const json::value* key = o.if_contains("recovery_key");
      const json::value* confirm = o.if_contains("confirm_recovery_key");
      if (key == nullptr || key->is_null()) {
        err = "missing field: recovery_key";
      } else if (!key->is_string()) {
        err = "field recovery_key must be a string";
      } else if (confirm != nullptr && !confirm->is_null() && !confirm->is_string()) {
        err = "field confirm_recovery_key must be a string";
      } else if (key->get_string().size() > vault::kMaxRecoveryKeyBytes ||
                 (confirm != nullptr && confirm->is_string() &&
                  confirm->get_string().size() > vault::kMaxRecoveryKeyBytes)) {
        // Refused before anything is copied into the secure heap, which is small and shared.
        err = "recovery_key and confirm_recovery_key are at most 512 bytes";
      } else {
        const json::string& k = key->get_string();
        StoreKeyBody b;
        err = GetString(o, "key_id", false, b.key_id);
        if (err.empty()) {
          b.recovery_key = SecretBytes::CopyOf(std::string_view(k.data(), k.size()));
          if (confirm != nullptr && confirm->is_string()) {
            const json::string& c = confirm->get_string();
            b.confirm_recovery_key = SecretBytes::CopyOf(std::string_view(c.data(), c.size()));
          }
          out.value = std::move(b);
        }
      }
    }
    if (!err.empty()) out.error = Invalid(err);
  }  // v releases its blocks into `resource`, which wipes them
  OPENSSL_cleanse(temp.data(), temp.size());
  return out;
}

Parsed<StoreCmsBody> ParseStoreCms(std::string_view body) {
  std::array<unsigned char, 1024> temp{};
  json::value v;
  if (std::string err = ParseObject(body, {}, temp, v); !err.empty()) {
    return Fail<StoreCmsBody>(Invalid(err));
  }
  const json::object& o = v.get_object();
  for (const auto& member : o) {
    if (member.key() != "cms" && member.key() != "key_id") {
      return Fail<StoreCmsBody>(Invalid("the body takes only cms and key_id"));
    }
  }
  std::optional<std::string> cms;
  if (std::string err = GetString(o, "cms", true, cms); !err.empty()) {
    return Fail<StoreCmsBody>(Invalid(err));
  }
  StoreCmsBody b;
  b.cms = std::move(*cms);
  if (std::string err = GetString(o, "key_id", false, b.key_id); !err.empty()) {
    return Fail<StoreCmsBody>(Invalid(err));
  }
  Parsed<StoreCmsBody> out;
  out.value = std::move(b);
  return out;
}

Parsed<VerifyBody> ParseVerify(std::string_view body) {
  // As ParseStoreKey: the parser's scratch space and every block of the value are wiped.
  std::array<unsigned char, 4096> temp{};
  CleansingResource resource;
  Parsed<VerifyBody> out;
  {
    const json::storage_ptr storage(&resource);
    json::value v(storage);
    std::string err = ParseObject(body, storage, temp, v);
    if (err.empty()) {
      const json::object& o = v.get_object();
      const json::value* key = o.if_contains("recovery_key");
      std::optional<std::uint32_t> version;
      if (key == nullptr || key->is_null()) {
        err = "missing field: recovery_key";
      } else if (!key->is_string()) {
        err = "field recovery_key must be a string";
      } else if (key->get_string().size() > vault::kMaxRecoveryKeyBytes) {
        err = "recovery_key is at most 512 bytes";
      } else if (err = GetVersion(o, version); err.empty()) {
        const json::string& k = key->get_string();
        VerifyBody b;
        b.recovery_key = SecretBytes::CopyOf(std::string_view(k.data(), k.size()));
        b.version = version;
        out.value = std::move(b);
      }
    }
    if (!err.empty()) out.error = Invalid(err);
  }  // v releases its blocks into `resource`, which wipes them
  OPENSSL_cleanse(temp.data(), temp.size());
  return out;
}

Parsed<RetrieveBody> ParseRetrieve(std::string_view body) {
  RetrieveBody r;
  if (body.empty()) {
    Parsed<RetrieveBody> out;
    out.value = std::move(r);
    return out;
  }
  std::array<unsigned char, 1024> temp{};
  json::value v;
  if (std::string err = ParseObject(body, {}, temp, v); !err.empty()) {
    return Fail<RetrieveBody>(Invalid(err));
  }
  const json::object& o = v.get_object();
  std::optional<std::string> reason;
  if (std::string err = GetString(o, "reason", false, reason); !err.empty()) {
    return Fail<RetrieveBody>(Invalid(err));
  }
  if (reason) r.reason = std::move(*reason);
  if (std::string err = GetVersion(o, r.version); !err.empty()) {
    return Fail<RetrieveBody>(Invalid(err));
  }
  if (std::string err = GetString(o, "access_request", false, r.access_request); !err.empty()) {
    return Fail<RetrieveBody>(Invalid(err));
  }
  Parsed<RetrieveBody> out;
  out.value = std::move(r);
  return out;
}

Parsed<AccessRequestBody> ParseAccessRequest(std::string_view body) {
  AccessRequestBody r;
  std::array<unsigned char, 1024> temp{};
  json::value v;
  if (std::string err = ParseObject(body.empty() ? "{}" : body, {}, temp, v); !err.empty()) {
    return Fail<AccessRequestBody>(Invalid(err));
  }
  const json::object& o = v.get_object();
  std::optional<std::string> reason;
  if (std::string err = GetString(o, "reason", false, reason); !err.empty()) {
    return Fail<AccessRequestBody>(Invalid(err));
  }
  if (reason) r.reason = std::move(*reason);
  if (std::string err = GetVersion(o, r.version); !err.empty()) {
    return Fail<AccessRequestBody>(Invalid(err));
  }
  Parsed<AccessRequestBody> out;
  out.value = std::move(r);
  return out;
}

Parsed<std::string> ParseDecisionNote(std::string_view body) {
  std::array<unsigned char, 1024> temp{};
  json::value v;
  if (std::string err = ParseObject(body.empty() ? "{}" : body, {}, temp, v); !err.empty()) {
    return Fail<std::string>(Invalid(err));
  }
  std::optional<std::string> note;
  if (std::string err = GetString(v.get_object(), "note", false, note); !err.empty()) {
    return Fail<std::string>(Invalid(err));
  }
  Parsed<std::string> out;
  out.value = note.value_or("");
  return out;
}

Parsed<AccessRequestQuery> ParseAccessRequestQuery(
    const std::map<std::string, std::string>& query) {
  AccessRequestQuery q;
  if (auto it = query.find("state"); it != query.end()) {
    q.state = storage::ParseAccessRequestState(it->second);
    if (!q.state) {
      return Fail<AccessRequestQuery>(
          Invalid("state must be pending, approved, denied, expired or used"));
    }
  }
  Parsed<SeqPage> page =
      ParseSeqPage(query, SeqPage{q.after, q.limit}, "after must be a next_after value");
  if (!page.ok()) return Fail<AccessRequestQuery>(page.error);
  q.after = page.value->after;
  q.limit = page.value->limit;
  Parsed<AccessRequestQuery> out;
  out.value = std::move(q);
  return out;
}

std::optional<HttpError> CheckEmptyObject(std::string_view body) {
  if (body.empty()) return std::nullopt;
  std::array<unsigned char, 1024> temp{};
  json::value v;
  if (std::string err = ParseObject(body, {}, temp, v); !err.empty()) return Invalid(err);
  return std::nullopt;
}

std::optional<std::map<std::string, std::string>> ParseQuery(std::string_view query) {
  auto decode = [](std::string_view in) -> std::optional<std::string> {
    std::string out;
    for (std::size_t i = 0; i < in.size(); ++i) {
      char c = in[i];
      if (c == '+') {
        out.push_back(' ');
      } else if (c == '%') {
        if (i + 2 >= in.size()) return std::nullopt;
        unsigned value = 0;
        auto [ptr, ec] = std::from_chars(in.data() + i + 1, in.data() + i + 3, value, 16);
        if (ec != std::errc() || ptr != in.data() + i + 3) return std::nullopt;
        out.push_back(static_cast<char>(value));
        i += 2;
      } else {
        out.push_back(c);
      }
    }
    return out;
  };
  std::map<std::string, std::string> out;
  while (!query.empty()) {
    std::size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (pair.empty()) continue;
    std::size_t eq = pair.find('=');
    std::optional<std::string> k = decode(pair.substr(0, eq));
    std::optional<std::string> v =
        decode(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1));
    if (!k || !v) return std::nullopt;
    if (!out.emplace(std::move(*k), std::move(*v)).second) return std::nullopt;
  }
  return out;
}

Parsed<AuditQuery> ParseAuditQuery(const std::map<std::string, std::string>& query) {
  AuditQuery q;
  if (auto it = query.find("device_id"); it != query.end()) {
    if (!vault::IsValidDeviceId(it->second)) {
      return Fail<AuditQuery>(Invalid("device_id must be 1 to 128 characters of A-Z, a-z, 0-9, "
                                      "'.', '_' and '-'"));
    }
    q.device_id = it->second;
  }
  Parsed<SeqPage> page =
      ParseSeqPage(query, SeqPage{q.after, q.limit}, "after must be a sequence number");
  if (!page.ok()) return Fail<AuditQuery>(page.error);
  q.after = page.value->after;
  q.limit = page.value->limit;
  Parsed<AuditQuery> out;
  out.value = std::move(q);
  return out;
}

Parsed<EventQuery> ParseEventQuery(const std::map<std::string, std::string>& query) {
  Parsed<SeqPage> page = ParseSeqPage(query, SeqPage{0, vault::kDefaultEventPageLimit},
                                      "after must be an event id");
  if (!page.ok()) return Fail<EventQuery>(page.error);
  Parsed<EventQuery> out;
  out.value = EventQuery{page.value->after, page.value->limit};
  return out;
}

Parsed<CheckpointQuery> ParseCheckpointQuery(const std::map<std::string, std::string>& query) {
  Parsed<SeqPage> page = ParseSeqPage(query, SeqPage{0, vault::kDefaultCheckpointPageLimit},
                                      "after must be an audit record's seq");
  if (!page.ok()) return Fail<CheckpointQuery>(page.error);
  Parsed<CheckpointQuery> out;
  out.value = CheckpointQuery{page.value->after, page.value->limit};
  return out;
}

Parsed<DevicePageQuery> ParseDevicePageQuery(const std::map<std::string, std::string>& query) {
  DevicePageQuery q;
  q.limit = vault::kDefaultDevicePageLimit;
  if (auto it = query.find("after"); it != query.end()) {
    if (!vault::IsValidDeviceId(it->second)) {
      return Fail<DevicePageQuery>(
          Invalid("after must be a device id: 1 to 128 characters of "
                  "A-Z, a-z, 0-9, '.', '_' and '-'"));
    }
    q.after = it->second;
  }
  if (auto it = query.find("limit"); it != query.end()) {
    std::uint64_t n = 0;
    if (!ParseCount(it->second, n) || n < 1 || n > vault::kMaxDevicePageLimit) {
      return Fail<DevicePageQuery>(Invalid("limit must be an integer from 1 to 1000"));
    }
    q.limit = static_cast<std::size_t>(n);
  }
  Parsed<DevicePageQuery> out;
  out.value = std::move(q);
  return out;
}

Parsed<AccessesQuery> ParseAccessesQuery(const std::map<std::string, std::string>& query) {
  AccessesQuery q;
  if (auto it = query.find("after"); it != query.end()) {
    std::uint64_t seq = 0;
    if (!ParseCount(it->second, seq)) {
      return Fail<AccessesQuery>(Invalid("after must be a sequence number"));
    }
    q.after = seq;
  }
  if (auto it = query.find("limit"); it != query.end()) {
    std::uint64_t n = 0;
    if (!ParseCount(it->second, n) || n < 1 || n > kMaxAuditLimit) {
      return Fail<AccessesQuery>(Invalid("limit must be an integer from 1 to 1000"));
    }
    q.limit = static_cast<std::size_t>(n);
  }
  Parsed<AccessesQuery> out;
  out.value = q;
  return out;
}

}  // namespace escrow::api
