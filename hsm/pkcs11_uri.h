#pragma once

// Naming a token: by its label ([hsm] token_label) or by a PKCS#11 URI (RFC 7512,
// [hsm] token = "pkcs11:token=escrow"). No PKCS#11 types here.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"

namespace escrow::hsm {

struct TokenInfo;

// Which token the vault uses: every attribute given must match, the others are free. Built by
// ParsePkcs11Uri or TokenByLabel; never empty (at least one attribute).
struct TokenSelector {
  std::optional<std::string> token;         // CK_TOKEN_INFO.label (at most 32 bytes)
  std::optional<std::string> manufacturer;  // CK_TOKEN_INFO.manufacturerID (32)
  std::optional<std::string> serial;        // CK_TOKEN_INFO.serialNumber (16)
  std::optional<std::string> model;         // CK_TOKEN_INFO.model (16)
  std::optional<std::uint64_t> slot_id;     // the slot's CK_SLOT_ID

  // How messages name it: the label if that is all it has, else the URI (percent-encoded).
  std::string Describe() const;
  // Whether the token in `slot_id` with `info` (padding trimmed) is the one.
  bool Matches(std::uint64_t slot, const TokenInfo& info) const;
};

// Parses the path of a PKCS#11 URI naming one token: the attributes token, manufacturer,
// serial, model and slot-id (decimal), each at most once, percent-decoded. kInvalidArgument,
// naming the attribute, for: no "pkcs11:" scheme; a query part or a PIN attribute (pin-value,
// pin-source: the PIN comes from pin_file only); an attribute naming an object, a library, a
// module or a slot description (the vault names a token, not a key; the module is
// [hsm] module); an unknown or repeated attribute; a bad %XX escape; a value longer than its
// CK_TOKEN_INFO field; a URI that names no attribute at all.
Result<TokenSelector> ParsePkcs11Uri(std::string_view uri);

// The selector for a token label (kInvalidArgument unless 1..32 bytes).
Result<TokenSelector> TokenByLabel(std::string_view label);

// Exactly one of `label` and `uri` must be non-empty: kInvalidArgument otherwise, or as the
// function it calls.
Result<TokenSelector> SelectToken(std::string_view label, std::string_view uri);

}  // namespace escrow::hsm
