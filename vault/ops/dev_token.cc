#include "vault/ops/dev_token.h"

#include <boost/json.hpp>

#include "auth/jwt_signer.h"
#include "base/bytes.h"

namespace escrow::ops {

std::string Base64UrlNoPad(std::span<const std::uint8_t> bytes) {
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t v = (std::uint32_t{bytes[i]} << 16) |
                            (std::uint32_t{bytes[i + 1]} << 8) | std::uint32_t{bytes[i + 2]};
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  const std::size_t rest = bytes.size() - i;
  if (rest == 1) {
    const std::uint32_t v = std::uint32_t{bytes[i]} << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
  } else if (rest == 2) {
    const std::uint32_t v = (std::uint32_t{bytes[i]} << 16) | (std::uint32_t{bytes[i + 1]} << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
  }
  return out;
}

std::vector<std::string> SplitRoles(std::string_view list) {
  std::vector<std::string> roles;
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) roles.emplace_back(item);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return roles;
}

std::string DevTokenPayload(const DevTokenClaims& claims) {
  boost::json::object payload;
  payload["iss"] = claims.iss;
  payload["sub"] = claims.sub;
  payload["aud"] = claims.aud;
  payload["iat"] = claims.iat;
  if (claims.nbf) payload["nbf"] = *claims.nbf;
  payload["exp"] = claims.exp;
  boost::json::array roles;
  for (const std::string& role : claims.roles) roles.emplace_back(role);
  payload["roles"] = std::move(roles);
  return boost::json::serialize(payload);
}

Result<std::string> MintDevToken(const DevTokenClaims& claims,
                                 const std::filesystem::path& key_path) {
  // The one ES256 signer (auth/), shared with portald's dev sign-in.
  ESCROW_ASSIGN_OR_RETURN(auth::JwtSigner signer, auth::JwtSigner::FromPemFile(key_path, "dev"));
  return signer.Sign(DevTokenPayload(claims));
}

}  // namespace escrow::ops
