#include "portal/portal_config.h"

#include <string_view>

#include <catch2/catch.hpp>

namespace escrow::portal {
namespace {

constexpr std::string_view kBaseText = R"(
dev = true
listen = "127.0.0.1:8444"
[tls]
cert = "tls/server.crt"
key = "tls/server.key"
[vault]
url = "https://127.0.0.1:8443"
ca = "tls/ca.crt"
client_cert = "tls/clients/portal.crt"
client_key = "/abs/portal.key"
)";

constexpr std::string_view kDevText = R"(
[dev_signin]
signing_key = "idp/dev-signing.key"
users = [ { name = "alice", roles = [] }, { name = "hd1", roles = ["helpdesk"] } ]
)";

TEST_CASE("PortalConfig reads what vaultctl init --dev writes", "[portal][config]") {
  const std::string kBase(kBaseText);
  const std::string kDev(kDevText);
  Result<PortalConfig> c = ParsePortalConfig(kBase + kDev, "/state");
  REQUIRE(c.ok());
  CHECK(c->dev);
  CHECK(c->listen == "127.0.0.1:8444");
  CHECK(c->tls_cert == "/state/tls/server.crt");  // relative to the config's folder
  CHECK(c->client_key == "/abs/portal.key");
  CHECK(c->vault_url == "https://127.0.0.1:8443");
  CHECK(c->dev_signin.signing_key == "/state/idp/dev-signing.key");
  CHECK(c->dev_signin.token_seconds == 3600);
  REQUIRE(c->dev_signin.users.size() == 2);
  CHECK(c->dev_signin.users[1].name == "hd1");
  CHECK(c->dev_signin.users[1].roles == std::vector<std::string>{"helpdesk"});
}

TEST_CASE("PortalConfig refuses unknown keys at every level", "[portal][config]") {
  const std::string kBase(kBaseText);
  const std::string kDev(kDevText);
  for (const std::string& extra :
       {std::string("colour = \"blue\"\n") + kBase + kDev, kBase + "timeout = 3\n" + kDev,
        kBase + kDev + "tokn_seconds = 5\n",
        kBase + kDev + "\n[extra]\nx = 1\n",
        kBase + "[dev_signin]\nsigning_key = \"k\"\nusers = [{ name = \"a\", role = [] }]\n"}) {
    Result<PortalConfig> c = ParsePortalConfig(extra, "/state");
    CHECK(c.status().code() == Code::kInvalidArgument);
    CHECK(c.status().message().find("unknown key") != std::string::npos);
  }
}

TEST_CASE("PortalConfig allows dev sign-in only with dev = true", "[portal][config]") {
  const std::string kBase(kBaseText);
  const std::string kDev(kDevText);
  std::string text = kBase + kDev;
  text.replace(text.find("dev = true"), 10, "dev = false");
  Result<PortalConfig> c = ParsePortalConfig(text, "/state");
  REQUIRE_FALSE(c.ok());
  CHECK(c.status().message().find("needs dev = true") != std::string::npos);
}

TEST_CASE("PortalConfig refuses a config without sign-in, TLS or vault client",
          "[portal][config]") {
  const std::string kBase(kBaseText);
  const std::string kDev(kDevText);
  CHECK(ParsePortalConfig(kBase, "/s").status().message().find("no sign-in") != std::string::npos);
  CHECK_FALSE(ParsePortalConfig("dev = true\n" + kDev, "/s").ok());
  std::string http = kBase + kDev;
  http.replace(http.find("https://127"), 8, "http://");
  CHECK_FALSE(ParsePortalConfig(http, "/s").ok());
  CHECK_FALSE(ParsePortalConfig("dev = \"yes\"\n", "/s").ok());
  CHECK_FALSE(ParsePortalConfig("this is not toml", "/s").ok());
}

TEST_CASE("PortalConfig checks [oidc]", "[portal][config]") {
  const std::string kBase(kBaseText);
  const std::string kDev(kDevText);
  const std::string oidc = R"(
[oidc]
issuer = "https://idp.example.com"
client_id = "portal"
client_secret_file = "oidc/secret"
redirect_uri = "https://portal.example.com/auth/callback"
vault_audience = "escrow-vault"
)";
  std::string prod = kBase + oidc;
  prod.replace(prod.find("dev = true"), 10, "dev = false");
  Result<PortalConfig> c = ParsePortalConfig(prod, "/etc/portal");
  REQUIRE(c.ok());
  CHECK(c->oidc.client_secret_file == "/etc/portal/oidc/secret");
  CHECK(c->oidc.scope == "openid");
  std::string plain = prod;
  plain.replace(plain.find("https://portal"), 8, "http://");
  CHECK_FALSE(ParsePortalConfig(plain, "/s").ok());
}

}  // namespace
}  // namespace escrow::portal
