#pragma once

#include <span>
#include <string_view>
#include <utility>

namespace escrow::portal {

// The headers every portald answer carries (API.md, "The reference portal"): a CSP that
// allows no inline script and no framing and posts forms only to the portal itself,
// no-store (a key must not stay in any cache), no referrer (a URL never leaks to a third
// party), HSTS, nosniff, and a same-origin opener policy.
std::span<const std::pair<std::string_view, std::string_view>> SecurityHeaders();

}  // namespace escrow::portal
