// Fuzzes the bearer-token path: base64url decoding (strict: decode(encode(x)) == x, and an
// accepted text re-encodes to itself), the strict-JSON check, and JwtVerifier::Verify with a
// fixed ES256 key. Byte 0 picks the mode:
//   even: the rest is a whole token as presented;
//   odd:  the rest is "HEADER\nPAYLOAD" JSON text, signed here with the pinned key, so the
//         fuzzer reaches the header and claim checks behind the signature.
// A verified token must name a non-empty user of at most kMaxOwnerBytes.
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/base64url.h"
#include "auth/jwks.h"
#include "auth/jwt_verifier.h"

namespace {

namespace auth = escrow::auth;

void Require(bool ok) {
  if (!ok) std::abort();
}

EVP_PKEY* g_key = nullptr;
std::optional<auth::JwtVerifier> g_verifier;

std::string Sign(std::string_view input) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  std::size_t der_len = 0;
  EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, g_key);
  EVP_DigestSign(ctx, nullptr, &der_len, reinterpret_cast<const unsigned char*>(input.data()),
                 input.size());
  std::vector<unsigned char> der(der_len);
  EVP_DigestSign(ctx, der.data(), &der_len, reinterpret_cast<const unsigned char*>(input.data()),
                 input.size());
  EVP_MD_CTX_free(ctx);
  const unsigned char* p = der.data();
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der_len));
  std::string raw(64, '\0');
  BN_bn2binpad(ECDSA_SIG_get0_r(sig), reinterpret_cast<unsigned char*>(raw.data()), 32);
  BN_bn2binpad(ECDSA_SIG_get0_s(sig), reinterpret_cast<unsigned char*>(raw.data()) + 32, 32);
  ECDSA_SIG_free(sig);
  return auth::Base64UrlEncode(raw);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  g_key = EVP_EC_gen("P-256");
  Require(g_key != nullptr);
  Require(EVP_PKEY_up_ref(g_key) == 1);
  escrow::Result<auth::JwtKey> key =
      auth::MakeJwtKey("k1", std::shared_ptr<evp_pkey_st>(g_key, EVP_PKEY_free));
  Require(key.ok());
  auth::JwtPolicy policy;
  policy.issuers = {"https://idp.example"};
  policy.audience = "escrow-vault";
  escrow::Result<auth::JwtVerifier> v = auth::JwtVerifier::Create({*key}, policy);
  Require(v.ok());
  g_verifier.emplace(std::move(*v));
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);

  // base64url: strict, so accepted text has exactly one spelling.
  if (auto decoded = auth::Base64UrlDecode(rest)) {
    Require(auth::Base64UrlEncode(*decoded) == rest);
    Require(auth::Base64UrlDecodeToString(rest).has_value());
  }
  const std::string encoded = auth::Base64UrlEncode(rest);
  std::optional<std::string> round = auth::Base64UrlDecodeToString(encoded);
  Require(round && *round == rest);
  (void)auth::IsStrictJson(rest);

  std::string token;
  if (data[0] % 2 == 0) {
    token = std::string(rest);
  } else {
    const std::size_t nl = rest.find('\n');
    const std::string_view header = rest.substr(0, nl);
    const std::string_view payload = nl == std::string_view::npos ? "" : rest.substr(nl + 1);
    const std::string input = auth::Base64UrlEncode(header) + "." + auth::Base64UrlEncode(payload);
    token = input + "." + Sign(input);
  }
  // A fixed "now" (2025-01-01T00:00:00Z), so a crash reproduces.
  const escrow::TimePoint now{std::chrono::seconds(1735689600)};
  escrow::Result<auth::VerifiedToken> verified = g_verifier->Verify(token, now);
  if (verified.ok()) {
    Require(!verified->user.empty() && verified->user.size() <= auth::JwtVerifier::kMaxOwnerBytes);
  } else {
    Require(verified.status().code() == escrow::Code::kUnauthenticated);
  }
  return 0;
}
