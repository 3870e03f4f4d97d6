#include "portal/oidc_provider_client.h"

#include <openssl/evp.h>

#include <array>
#include <fstream>
#include <optional>
#include <sstream>

#include <boost/json.hpp>

#include "auth/base64url.h"
#include "auth/jwks.h"
#include "auth/jwt_verifier.h"
#include "base/base64.h"
#include "base/bytes.h"
#include "portal/https_client.h"
#include "portal/portal_app.h"

namespace escrow::portal {
namespace {

// How long a sign-in may take between the redirect out and the redirect back.
constexpr std::int64_t kStateCookieSeconds = 600;
constexpr std::chrono::milliseconds kProviderTimeout{10000};

Status Refused(const std::string& why) {
  return Status::Unauthenticated("oidc: " + why, "unauthenticated");
}

std::string Sha256Base64Url(std::string_view text) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  EVP_Digest(text.data(), text.size(), md.data(), &len, EVP_sha256(), nullptr);
  return auth::Base64UrlEncode(std::span<const std::uint8_t>(md.data(), len));
}

// The path and query of an absolute https URL ("https://h:p/a?b" -> "/a?b").
std::string PathOf(const std::string& url) {
  const std::size_t scheme = url.find("://");
  const std::size_t slash = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  return slash == std::string::npos ? "/" : url.substr(slash);
}

// The scheme and authority of an absolute URL ("https://h:p/a" -> "https://h:p").
std::string OriginOf(const std::string& url) {
  const std::size_t scheme = url.find("://");
  const std::size_t slash = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  return url.substr(0, slash);
}

Result<std::string> ReadSecretFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::InvalidArgument("cannot read client_secret_file " + path);
  std::ostringstream text;
  text << in.rdbuf();
  std::string secret = text.str();
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
  return secret;
}

// One call to the provider (its own HTTPS client per origin); the answer's JSON object.
Result<boost::json::object> FetchJson(const OidcConfig& config, HttpsCall call,
                                      const std::string& url) {
  ESCROW_ASSIGN_OR_RETURN(std::unique_ptr<HttpsClient> client,
                          HttpsClient::Create({OriginOf(url), config.ca, "", "", kProviderTimeout}));
  call.target = PathOf(url);
  ESCROW_ASSIGN_OR_RETURN(HttpsAnswer answer, client->Call(call));
  if (answer.status != 200) {
    return Status::Unavailable(url + " answered " + std::to_string(answer.status));
  }
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(answer.body, ec);
  if (ec || !v.is_object()) return Status::Unavailable(url + " did not answer a JSON object");
  return std::move(v.as_object());
}

std::string StringField(const boost::json::object& o, std::string_view key) {
  const boost::json::value* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

class CodeFlow final : public OidcSignIn {
 public:
  CodeFlow(OidcConfig config, const Clock& clock, std::string secret, auth::JwtVerifier id,
           auth::JwtVerifier access)
      : config_(std::move(config)),
        clock_(clock),
        secret_(std::move(secret)),
        id_verifier_(std::move(id)),
        access_verifier_(std::move(access)) {}

  PortalResponse Start() override {
    const std::string state = SessionStore::RandomToken();
    const std::string nonce = SessionStore::RandomToken();
    const std::string verifier = SessionStore::RandomToken();
    const std::string url =
        config_.authorization_endpoint +
        (config_.authorization_endpoint.find('?') == std::string::npos ? "?" : "&") +
        "response_type=code&client_id=" + UrlEncode(config_.client_id) +
        "&redirect_uri=" + UrlEncode(config_.redirect_uri) + "&scope=" + UrlEncode(config_.scope) +
        "&state=" + state + "&nonce=" + nonce + "&code_challenge=" + Sha256Base64Url(verifier) +
        "&code_challenge_method=S256";
    PortalResponse r = Redirect(url, 302);
    // Lax: the provider's redirect back is a cross-site top-level navigation.
    r.headers.emplace_back("Set-Cookie", HostCookie(kStateCookie, state + "." + nonce + "." + verifier,
                                                    kStateCookieSeconds, "Lax"));
    return r;
  }

  Result<Session> Finish(const PortalRequest& callback) override {
    if (FormValue(callback.query, "error")) return Refused("the provider refused the sign-in");
    const std::optional<std::string> code = FormValue(callback.query, "code");
    const std::optional<std::string> state = FormValue(callback.query, "state");
    const std::optional<std::string_view> cookie = CookieValue(callback.cookie, kStateCookie);
    if (!code || code->empty() || !state || !cookie) return Refused("no code, state or cookie");
    const std::size_t dot1 = cookie->find('.');
    const std::size_t dot2 = cookie->find('.', dot1 == std::string_view::npos ? dot1 : dot1 + 1);
    if (dot1 == std::string_view::npos || dot2 == std::string_view::npos) {
      return Refused("malformed state cookie");
    }
    const std::string_view want_state = cookie->substr(0, dot1);
    const std::string_view want_nonce = cookie->substr(dot1 + 1, dot2 - dot1 - 1);
    const std::string_view verifier = cookie->substr(dot2 + 1);
    if (!SessionStore::TokensEqual(*state, want_state)) return Refused("state mismatch");

    HttpsCall call;
    call.method = "POST";
    call.content_type = "application/x-www-form-urlencoded";
    call.authorization = "Basic " + EncodeBase64(AsBytes(UrlEncode(config_.client_id) + ":" +
                                                         UrlEncode(secret_)));
    call.body = "grant_type=authorization_code&code=" + UrlEncode(*code) +
                "&redirect_uri=" + UrlEncode(config_.redirect_uri) +
                "&code_verifier=" + std::string(verifier);
    Result<boost::json::object> tokens = FetchJson(config_, std::move(call), config_.token_endpoint);
    if (!tokens.ok()) return Refused("token endpoint: " + tokens.status().message());
    const std::string id_token = StringField(*tokens, "id_token");
    const std::string access_token = StringField(*tokens, "access_token");
    if (id_token.empty() || access_token.empty()) return Refused("no id_token or access_token");

    const TimePoint now = clock_.Now();
    Result<auth::VerifiedToken> id = id_verifier_.Verify(id_token, now);
    if (!id.ok()) return Refused("id token: " + id.status().message());
    // The signature is verified: the payload is the provider's. Its nonce must be ours.
    const std::size_t p1 = id_token.find('.');
    const std::size_t p2 = id_token.find('.', p1 + 1);
    std::optional<std::string> payload =
        auth::Base64UrlDecodeToString(std::string_view(id_token).substr(p1 + 1, p2 - p1 - 1));
    boost::system::error_code ec;
    const boost::json::value claims = boost::json::parse(payload.value_or(""), ec);
    if (ec || !claims.is_object() ||
        !SessionStore::TokensEqual(StringField(claims.as_object(), "nonce"), want_nonce)) {
      return Refused("nonce mismatch");
    }
    Result<auth::VerifiedToken> access = access_verifier_.Verify(access_token, now);
    if (!access.ok()) return Refused("access token: " + access.status().message());
    if (access->user != id->user) return Refused("the tokens name different users");

    Session session;
    session.user = id->user;
    session.roles = access->roles;
    session.token = access_token;
    session.exp = std::min(id->exp, access->exp);
    return session;
  }

 private:
  const OidcConfig config_;
  const Clock& clock_;
  const std::string secret_;
  const auth::JwtVerifier id_verifier_;      // audience: our client id
  const auth::JwtVerifier access_verifier_;  // audience: the vault's
};

}  // namespace

Result<std::unique_ptr<OidcSignIn>> MakeOidcSignIn(const OidcConfig& config, const Clock& clock) {
  OidcConfig c = config;
  ESCROW_ASSIGN_OR_RETURN(std::string secret, ReadSecretFile(c.client_secret_file));
  if (c.authorization_endpoint.empty() || c.token_endpoint.empty() || c.jwks_uri.empty()) {
    std::string issuer = c.issuer;
    while (!issuer.empty() && issuer.back() == '/') issuer.pop_back();
    HttpsCall get;
    get.method = "GET";
    ESCROW_ASSIGN_OR_RETURN(boost::json::object discovery,
                            FetchJson(c, get, issuer + "/.well-known/openid-configuration"));
    if (StringField(discovery, "issuer") != c.issuer) {
      return Status::InvalidArgument("the discovery document names another issuer");
    }
    if (c.authorization_endpoint.empty()) {
      c.authorization_endpoint = StringField(discovery, "authorization_endpoint");
    }
    if (c.token_endpoint.empty()) c.token_endpoint = StringField(discovery, "token_endpoint");
    if (c.jwks_uri.empty()) c.jwks_uri = StringField(discovery, "jwks_uri");
  }
  for (const std::string* url : {&c.authorization_endpoint, &c.token_endpoint, &c.jwks_uri}) {
    if (url->rfind("https://", 0) != 0) {
      return Status::InvalidArgument("provider endpoints must be https: \"" + *url + "\"");
    }
  }
  HttpsCall get;
  get.method = "GET";
  ESCROW_ASSIGN_OR_RETURN(boost::json::object jwks_doc, FetchJson(c, get, c.jwks_uri));
  ESCROW_ASSIGN_OR_RETURN(std::vector<auth::JwtKey> keys,
                          auth::JwtKeysFromJwks(boost::json::serialize(jwks_doc)));
  auth::JwtPolicy id_policy;
  id_policy.issuers = {c.issuer};
  id_policy.audience = c.client_id;
  auth::JwtPolicy access_policy = id_policy;
  access_policy.audience = c.vault_audience;
  ESCROW_ASSIGN_OR_RETURN(auth::JwtVerifier id, auth::JwtVerifier::Create(keys, id_policy));
  ESCROW_ASSIGN_OR_RETURN(auth::JwtVerifier access,
                          auth::JwtVerifier::Create(std::move(keys), access_policy));
  return std::unique_ptr<OidcSignIn>(
      new CodeFlow(std::move(c), clock, std::move(secret), std::move(id), std::move(access)));
}

}  // namespace escrow::portal
