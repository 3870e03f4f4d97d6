#include "hsm/pkcs11_uri.h"

#include <array>
#include <charconv>
#include <cstddef>
#include <utility>

#include "hsm/key_service.h"

namespace escrow::hsm {
namespace {

constexpr std::string_view kScheme = "pkcs11:";

Status Bad(const std::string& what) { return Status::InvalidArgument("token URI: " + what); }

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Result<std::string> PercentDecode(std::string_view text, std::string_view name) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    const int hi = i + 2 < text.size() ? HexDigit(text[i + 1]) : -1;
    const int lo = i + 2 < text.size() ? HexDigit(text[i + 2]) : -1;
    if (hi < 0 || lo < 0) return Bad("bad %-escape in " + std::string(name));
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

// RFC 3986 unreserved characters and the sub-delimiters a path value may hold; the rest is
// percent-encoded in messages.
bool PlainInUri(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("-._~!$'()*+,=:@&").find(c) != std::string_view::npos;
}

std::string PercentEncode(std::string_view value) {
  constexpr std::string_view kHex = "0123456789ABCDEF";
  std::string out;
  for (const char c : value) {
    if (PlainInUri(c)) {
      out.push_back(c);
    } else {
      const auto byte = static_cast<unsigned char>(c);
      out.push_back('%');
      out.push_back(kHex[byte >> 4U]);
      out.push_back(kHex[byte & 0xFU]);
    }
  }
  return out;
}

// The attributes RFC 7512 defines that the vault refuses, and why.
std::string_view Refusal(std::string_view name) {
  if (name == "pin-value" || name == "pin-source") {
    return "carries a PIN; the PIN comes from [hsm] pin_file only";
  }
  if (name == "object" || name == "id" || name == "type") {
    return "names an object; the URI names the token only (the vault finds its keys itself)";
  }
  if (name == "module-name" || name == "module-path") {
    return "names a module; the module is [hsm] module";
  }
  if (name.starts_with("library-") || name == "slot-description" || name == "slot-manufacturer") {
    return "is not supported; name the token by token, manufacturer, serial, model or slot-id";
  }
  return {};
}

Status SetOnce(std::optional<std::string>& field, std::string_view name, std::string value,
               std::size_t max_bytes) {
  if (field) return Bad("attribute " + std::string(name) + " given twice");
  if (value.empty()) return Bad("attribute " + std::string(name) + " is empty");
  if (value.size() > max_bytes) {
    return Bad("attribute " + std::string(name) + " is longer than " + std::to_string(max_bytes) +
               " bytes");
  }
  field = std::move(value);
  return Status::Ok();
}

Status SetSlotId(TokenSelector& out, const std::string& value) {
  if (out.slot_id) return Bad("attribute slot-id given twice");
  std::uint64_t id = 0;
  const char* end = value.data() + value.size();  // NOLINT: bounds of value
  const auto [ptr, ec] = std::from_chars(value.data(), end, id);
  if (value.empty() || ec != std::errc() || ptr != end) {
    return Bad("slot-id must be a decimal number");
  }
  out.slot_id = id;
  return Status::Ok();
}

Status SetAttribute(TokenSelector& out, std::string_view name, std::string value) {
  if (name == "token") return SetOnce(out.token, name, std::move(value), 32);
  if (name == "manufacturer") return SetOnce(out.manufacturer, name, std::move(value), 32);
  if (name == "serial") return SetOnce(out.serial, name, std::move(value), 16);
  if (name == "model") return SetOnce(out.model, name, std::move(value), 16);
  if (name == "slot-id") return SetSlotId(out, value);
  if (std::string_view why = Refusal(name); !why.empty()) {
    return Bad("attribute " + std::string(name) + " " + std::string(why));
  }
  return Bad("unknown attribute " + std::string(name));
}

}  // namespace

Result<TokenSelector> ParsePkcs11Uri(std::string_view uri) {
  if (!uri.starts_with(kScheme)) return Bad("must start with pkcs11:");
  std::string_view path = uri.substr(kScheme.size());
  if (const std::size_t q = path.find('?'); q != std::string_view::npos) {
    // The query holds pin-value, pin-source, module-name and module-path: none is ours.
    std::string_view query = path.substr(q + 1);
    const std::string_view first = query.substr(0, query.find_first_of("=&"));
    if (std::string_view why = Refusal(first); !why.empty()) {
      return Bad("attribute " + std::string(first) + " " + std::string(why));
    }
    return Bad("a query part (after '?') is not supported");
  }
  TokenSelector out;
  bool any = false;
  while (!path.empty()) {
    const std::size_t semi = path.find(';');
    const std::string_view pair = path.substr(0, semi);
    path = semi == std::string_view::npos ? std::string_view() : path.substr(semi + 1);
    if (pair.empty()) continue;
    const std::size_t eq = pair.find('=');
    if (eq == std::string_view::npos) return Bad("attribute " + std::string(pair) + " has no '='");
    ESCROW_ASSIGN_OR_RETURN(std::string name, PercentDecode(pair.substr(0, eq), "a name"));
    ESCROW_ASSIGN_OR_RETURN(std::string value, PercentDecode(pair.substr(eq + 1), name));
    ESCROW_RETURN_IF_ERROR(SetAttribute(out, name, std::move(value)));
    any = true;
  }
  if (!any) return Bad("names no token (give token=LABEL, serial=..., ...)");
  return out;
}

Result<TokenSelector> TokenByLabel(std::string_view label) {
  if (label.empty() || label.size() > 32) {
    return Status::InvalidArgument("token label must be 1 to 32 bytes");
  }
  TokenSelector out;
  out.token = std::string(label);
  return out;
}

Result<TokenSelector> SelectToken(std::string_view label, std::string_view uri) {
  if (!label.empty() && !uri.empty()) {
    return Status::InvalidArgument("give the token by token_label or by token (a URI), not both");
  }
  if (uri.empty()) {
    if (label.empty()) return Status::InvalidArgument("no token: give token_label or token");
    return TokenByLabel(label);
  }
  return ParsePkcs11Uri(uri);
}

std::string TokenSelector::Describe() const {
  if (token && !manufacturer && !serial && !model && !slot_id) return *token;
  std::string out(kScheme);
  const std::array<std::pair<const char*, const std::optional<std::string>*>, 4> fields = {
      {{"token", &token}, {"manufacturer", &manufacturer}, {"serial", &serial}, {"model", &model}}};
  for (const auto& [name, value] : fields) {
    if (!*value) continue;
    if (out.size() > kScheme.size()) out += ';';
    out += std::string(name) + "=" + PercentEncode(**value);
  }
  if (slot_id) {
    if (out.size() > kScheme.size()) out += ';';
    out += "slot-id=" + std::to_string(*slot_id);
  }
  return out;
}

bool TokenSelector::Matches(std::uint64_t slot, const TokenInfo& info) const {
  // The token pads its fields with blanks, and TokenInfo has them trimmed: so are ours.
  const auto same = [](const std::optional<std::string>& wanted, const std::string& has) {
    if (!wanted) return true;
    const std::size_t end = wanted->find_last_not_of(' ');
    return std::string_view(*wanted).substr(0, end == std::string::npos ? 0 : end + 1) == has;
  };
  return same(token, info.label) && same(manufacturer, info.manufacturer) &&
         same(serial, info.serial) && same(model, info.model) && (!slot_id || *slot_id == slot);
}

}  // namespace escrow::hsm
