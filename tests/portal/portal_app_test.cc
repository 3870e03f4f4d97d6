#include "portal/portal_app.h"

#include <fstream>

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include "auth/jwks.h"
#include "auth/jwt_verifier.h"
#include "portal/oidc_sign_in.h"
#include "tests/fakes/manual_clock.h"
#include "tests/support/temp_dir.h"

namespace escrow::portal {
namespace {

std::string HeaderOf(const PortalResponse& r, std::string_view name, std::string_view prefix = {}) {
  for (const auto& [k, v] : r.headers) {
    if (k == name && v.rfind(prefix, 0) == 0) return v;
  }
  return {};
}

// The cookie's value from a Set-Cookie header "NAME=VALUE; ...".
std::string CookieFrom(const std::string& set_cookie) {
  const std::size_t eq = set_cookie.find('=');
  return set_cookie.substr(eq + 1, set_cookie.find(';') - eq - 1);
}

// A PortalApp in dev mode whose vault is unreachable (port 1): every forwarded call is a 503.
class AppFixture {
 public:
  AppFixture() {
    const auto& d = dir_.path();
    std::filesystem::create_directory(d / "static");
    std::ofstream(d / "static" / "index.html") << "<!doctype html><title>Devices</title>";
    std::ofstream(d / "static" / "signin.html") << "<!doctype html><title>Sign in</title>";
    const std::string key = (d / "key.pem").string();
    const std::string cert = (d / "cert.pem").string();
    REQUIRE(escrow::testing::RunCommand(
                "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out " + key +
                " 2>/dev/null && openssl req -x509 -key " + key + " -out " + cert +
                " -subj /CN=localhost -days 1 2>/dev/null") == 0);
    config_.dev = true;
    config_.tls_cert = config_.client_cert = config_.vault_ca = cert;
    config_.tls_key = config_.client_key = key;
    config_.vault_url = "https://127.0.0.1:1";
    config_.vault_timeout = std::chrono::milliseconds(2000);
    config_.dev_signin.signing_key = key;
    config_.dev_signin.users = {{"alice", {}}, {"hd1", {"helpdesk"}}};
    Result<StaticFiles> files = StaticFiles::Load((d / "static").string());
    REQUIRE(files.ok());
    Result<std::unique_ptr<HttpsClient>> vault = HttpsClient::ForVault(config_);
    REQUIRE(vault.ok());
    Result<auth::JwtSigner> signer = auth::JwtSigner::FromPemFile(key, "dev");
    REQUIRE(signer.ok());
    jwks_ = *signer->PublicJwks();
    app_ = std::make_unique<PortalApp>(config_, clock_, std::move(*files), std::move(*vault),
                                       std::move(*signer), nullptr);
  }

  PortalResponse Call(std::string method, std::string path, std::string body = {},
                      std::string cookie = {}, std::string csrf = {},
                      std::string content_type = "application/json") {
    PortalRequest r;
    r.method = std::move(method);
    const std::size_t q = path.find('?');
    r.path = path.substr(0, q);
    if (q != std::string::npos) r.query = path.substr(q + 1);
    r.body = std::move(body);
    r.cookie = std::move(cookie);
    r.csrf_header = std::move(csrf);
    r.content_type = std::move(content_type);
    r.sec_fetch_site = sec_fetch_site_;
    return app_->Handle(r);
  }

  // Signs in through the dev page; returns the session cookie header value.
  std::string SignIn(const std::string& user) {
    PortalResponse users = Call("GET", "/api/dev/users");
    const std::string token = CookieFrom(HeaderOf(users, "Set-Cookie"));
    PortalResponse r = Call("POST", "/auth/dev-signin", "user=" + user + "&csrf=" + token,
                            "__Host-portal-signin=" + token, "",
                            "application/x-www-form-urlencoded");
    REQUIRE(r.status == 303);
    return "__Host-portal-session=" + CookieFrom(HeaderOf(r, "Set-Cookie", "__Host-portal-session"));
  }

  std::string Csrf(const std::string& cookie) {
    PortalResponse r = Call("GET", "/api/session", {}, cookie);
    REQUIRE(r.status == 200);
    return std::string(boost::json::parse(r.body).at("csrf").as_string());
  }

  escrow::testing::TempDir dir_;
  escrow::testing::ManualClock clock_{Clock::System().Now()};
  PortalConfig config_;
  std::unique_ptr<PortalApp> app_;
  std::string jwks_;
  std::string sec_fetch_site_ = "same-origin";
};

TEST_CASE("PortalApp dev sign-in needs the sign-in cookie echoed in the form", "[portal][app]") {
  AppFixture f;
  PortalResponse users = f.Call("GET", "/api/dev/users");
  REQUIRE(users.status == 200);
  const std::string set = HeaderOf(users, "Set-Cookie");
  CHECK(set.find("__Host-portal-signin=") == 0);
  CHECK(set.find("; Secure; HttpOnly; SameSite=Strict") != std::string::npos);
  const std::string token = CookieFrom(set);
  const std::string form = "application/x-www-form-urlencoded";
  SECTION("without the cookie") {
    CHECK(f.Call("POST", "/auth/dev-signin", "user=alice&csrf=" + token, "", "", form).status ==
          403);
  }
  SECTION("with another token") {
    CHECK(f.Call("POST", "/auth/dev-signin", "user=alice&csrf=" + std::string(43, 'A'),
                 "__Host-portal-signin=" + token, "", form)
              .status == 403);
  }
  SECTION("a user the page does not list") {
    CHECK(f.Call("POST", "/auth/dev-signin", "user=mallory&csrf=" + token,
                 "__Host-portal-signin=" + token, "", form)
              .status == 400);
  }
  SECTION("the session cookie is __Host-, Secure, HttpOnly, Strict and ends with the token") {
    PortalResponse r = f.Call("POST", "/auth/dev-signin", "user=hd1&csrf=" + token,
                              "__Host-portal-signin=" + token, "", form);
    REQUIRE(r.status == 303);
    CHECK(HeaderOf(r, "Location") == "/");
    const std::string session = HeaderOf(r, "Set-Cookie", "__Host-portal-session=");
    CHECK(session.find("; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=3600") !=
          std::string::npos);
    CHECK(session.find("Domain") == std::string::npos);
  }
}

TEST_CASE("PortalApp's dev token is one vaultd accepts: issuer, audience, user, roles",
          "[portal][app]") {
  AppFixture f;
  const std::string cookie = f.SignIn("hd1");
  std::optional<Session> session =
      f.app_->sessions().Find(cookie.substr(cookie.find('=') + 1));
  REQUIRE(session.has_value());
  Result<std::vector<auth::JwtKey>> keys = auth::JwtKeysFromJwks(f.jwks_);
  REQUIRE(keys.ok());
  auth::JwtPolicy policy;
  policy.issuers = {"https://idp.dev.local"};
  policy.audience = "escrow-vault";
  Result<auth::JwtVerifier> verifier = auth::JwtVerifier::Create(std::move(*keys), policy);
  REQUIRE(verifier.ok());
  Result<auth::VerifiedToken> token = verifier->Verify(session->token, f.clock_.Now());
  REQUIRE(token.ok());
  CHECK(token->user == "hd1");
  CHECK(token->roles == std::vector<std::string>{"helpdesk"});
  CHECK(token->exp == session->exp);
}

TEST_CASE("PortalApp refuses API writes without the session's CSRF token", "[portal][app]") {
  AppFixture f;
  const std::string cookie = f.SignIn("alice");
  const std::string csrf = f.Csrf(cookie);
  const std::string rotate = "/api/devices/mac-1/recovery-key/rotate";
  CHECK(f.Call("POST", rotate, "{}", cookie).status == 403);
  CHECK(f.Call("POST", rotate, "{}", cookie, std::string(43, 'A')).status == 403);
  CHECK(f.Call("POST", rotate, "{}", cookie, csrf.substr(1)).status == 403);
  CHECK(f.Call("POST", "/auth/signout", "", cookie, csrf, "application/x-www-form-urlencoded")
            .status == 403);  // a form carries its token in the body
  SECTION("a request another site makes is refused even with the token") {
    f.sec_fetch_site_ = "cross-site";
    CHECK(f.Call("POST", rotate, "{}", cookie, csrf).status == 403);
  }
  SECTION("with the token the call reaches the vault (down here: the unavailable message)") {
    PortalResponse r = f.Call("POST", rotate, "{}", cookie, csrf);
    CHECK(r.status == 503);
    CHECK(r.body.find("\"unavailable\"") != std::string::npos);
    PortalResponse store =
        f.Call("PUT", "/api/devices/mac-1/recovery-key", R"({"recovery_key":"x"})", cookie, csrf);
    CHECK(store.status == 503);
    CHECK(store.body.find("\"store_failed\"") != std::string::npos);
  }
  SECTION("sign-out with the form's token ends the session") {
    PortalResponse r = f.Call("POST", "/auth/signout", "csrf=" + csrf, cookie, "",
                              "application/x-www-form-urlencoded");
    CHECK(r.status == 303);
    CHECK(HeaderOf(r, "Location") == "/signin");
    CHECK(f.Call("GET", "/api/session", {}, cookie).status == 401);
    // Signing out again (an ended session) just goes back to sign-in.
    CHECK(f.Call("POST", "/auth/signout", "", cookie, "", "application/x-www-form-urlencoded")
              .status == 303);
  }
}

TEST_CASE("PortalApp forwards only the pages' vault routes", "[portal][app]") {
  AppFixture f;
  const std::string cookie = f.SignIn("alice");
  const std::string csrf = f.Csrf(cookie);
  CHECK(f.Call("GET", "/api/audit", {}, cookie).status == 404);
  CHECK(f.Call("GET", "/api/devices/mac-1/recovery-key/../../audit", {}, cookie).status == 404);
  CHECK(f.Call("GET", "/api/metrics", {}, cookie).status == 404);
  CHECK(f.Call("DELETE", "/api/devices/mac-1", {}, cookie, csrf).status == 405);
  CHECK(f.Call("POST", "/api/devices/mac-1/recovery-key/retrieve", "{}", cookie, csrf,
               "text/plain")
            .status == 415);
  CHECK(f.Call("GET", "/api/devices?owner=a%20b<script>", {}, cookie).status == 400);
}

TEST_CASE("PortalApp sessions end at the token's exp", "[portal][app]") {
  AppFixture f;
  const std::string cookie = f.SignIn("alice");
  CHECK(f.Call("GET", "/api/session", {}, cookie).status == 200);
  CHECK(f.Call("GET", "/", {}, cookie).status == 200);
  f.clock_.Advance(std::chrono::seconds(3600));
  CHECK(f.Call("GET", "/api/session", {}, cookie).status == 401);
  PortalResponse page = f.Call("GET", "/", {}, cookie);
  CHECK(page.status == 302);
  CHECK(HeaderOf(page, "Location") == "/signin");
}

TEST_CASE("PortalApp serves the sign-in page to anyone and other pages to sessions only",
          "[portal][app]") {
  AppFixture f;
  CHECK(f.Call("GET", "/signin").status == 200);
  CHECK(f.Call("GET", "/").status == 302);
  CHECK(f.Call("GET", "/api/devices").status == 401);
  const std::string cookie = f.SignIn("alice");
  CHECK(f.Call("GET", "/nope", {}, cookie).status == 404);
  CHECK(f.Call("GET", "/../portal.conf", {}, cookie).status == 404);
}

}  // namespace
}  // namespace escrow::portal
