#include "vault/ops/dev_token.h"

#include <array>
#include <memory>

#include <boost/json.hpp>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "base/bytes.h"
#include "base/ssl_ptr.h"

namespace escrow::ops {
namespace {


constexpr int kP256CoordinateBytes = 32;

Status OpenSslError(std::string_view call) {
  std::array<char, 256> buf{};
  const unsigned long err = ERR_get_error();
  if (err != 0) ERR_error_string_n(err, buf.data(), buf.size());
  ERR_clear_error();
  return Status::Internal(std::string(call) + ": " +
                          (err != 0 ? std::string(buf.data()) : std::string("failed")));
}

Result<SslPtr<EVP_PKEY>> LoadP256PrivateKey(const std::filesystem::path& path) {
  SslPtr<BIO> bio(BIO_new_file(path.c_str(), "r"));
  if (!bio) {
    ERR_clear_error();
    return Status::NotFound("cannot read the dev signing key " + path.string());
  }
  SslPtr<EVP_PKEY> key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  ERR_clear_error();
  if (!key) return Status::InvalidArgument(path.string() + " is not a PEM private key");
  std::array<char, 64> group{};
  std::size_t group_len = 0;
  if (!EVP_PKEY_is_a(key.get(), "EC") ||
      EVP_PKEY_get_utf8_string_param(key.get(), "group", group.data(), group.size(),
                                     &group_len) != 1 ||
      std::string_view(group.data(), group_len) != "prime256v1") {
    ERR_clear_error();
    return Status::InvalidArgument(path.string() + " is not an EC P-256 key");
  }
  return key;
}

// ECDSA-SHA256 over `input`, converted from DER to JOSE's fixed-width r||s (RFC 7518 3.4).
Result<Bytes> SignEs256(EVP_PKEY* key, std::string_view input) {
  SslPtr<EVP_MD_CTX> ctx(EVP_MD_CTX_new());
  if (!ctx) return OpenSslError("EVP_MD_CTX_new");
  if (EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) != 1) {
    return OpenSslError("EVP_DigestSignInit");
  }
  const std::span<const std::uint8_t> data = AsBytes(input);
  std::size_t der_len = 0;
  if (EVP_DigestSign(ctx.get(), nullptr, &der_len, data.data(), data.size()) != 1) {
    return OpenSslError("EVP_DigestSign");
  }
  Bytes der(der_len);
  if (EVP_DigestSign(ctx.get(), der.data(), &der_len, data.data(), data.size()) != 1) {
    return OpenSslError("EVP_DigestSign");
  }
  const unsigned char* p = der.data();
  SslPtr<ECDSA_SIG> sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der_len)));
  if (!sig) return OpenSslError("d2i_ECDSA_SIG");
  Bytes raw(std::size_t{2} * kP256CoordinateBytes);
  if (BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), raw.data(), kP256CoordinateBytes) !=
          kP256CoordinateBytes ||
      BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), raw.data() + kP256CoordinateBytes,
                   kP256CoordinateBytes) != kP256CoordinateBytes) {
    return OpenSslError("BN_bn2binpad");
  }
  return raw;
}

}  // namespace

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
  ESCROW_ASSIGN_OR_RETURN(SslPtr<EVP_PKEY> key, LoadP256PrivateKey(key_path));
  static constexpr std::string_view kHeader = R"({"alg":"ES256","typ":"JWT","kid":"dev"})";
  std::string signing_input = Base64UrlNoPad(AsBytes(kHeader)) + "." +
                              Base64UrlNoPad(AsBytes(DevTokenPayload(claims)));
  ESCROW_ASSIGN_OR_RETURN(Bytes signature, SignEs256(key.get(), signing_input));
  return signing_input + "." + Base64UrlNoPad(signature);
}

}  // namespace escrow::ops
