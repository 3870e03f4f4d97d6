#include "portal/security_headers.h"

#include <array>

namespace escrow::portal {
namespace {

constexpr std::array<std::pair<std::string_view, std::string_view>, 8> kHeaders = {{
    {"Content-Security-Policy",
     "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
     "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
     "form-action 'self'"},
    {"Cache-Control", "no-store"},
    {"Referrer-Policy", "no-referrer"},
    {"X-Content-Type-Options", "nosniff"},
    {"X-Frame-Options", "DENY"},
    {"Strict-Transport-Security", "max-age=31536000"},
    {"Cross-Origin-Opener-Policy", "same-origin"},
    {"Permissions-Policy", "camera=(), microphone=(), geolocation=()"},
}};

}  // namespace

std::span<const std::pair<std::string_view, std::string_view>> SecurityHeaders() {
  return kHeaders;
}

}  // namespace escrow::portal
