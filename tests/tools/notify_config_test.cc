#include "tools/notify_config.h"

#include <string>

#include <catch2/catch.hpp>

namespace escrow::tools {
namespace {

// notify.conf as vaultctl init --dev writes it.
std::string DevConfig(const std::string& extra = "") {
  return "vault_url = \"https://127.0.0.1:8443\"\n"
         "ca = \"tls/ca.crt\"\n"
         "cert = \"tls/clients/notifier.crt\"\n"
         "key = \"tls/clients/notifier.key\"\n"
         "webhook_url = \"http://127.0.0.1:9099/events\"\n"
         "secret_file = \"/s/notify.secret\"\n"
         "state_dir = \"/s/notify\"\n"
         "batch_size = 100\n"
         "poll_seconds = 5\n" +
         extra;
}

std::string Without(const std::string& key) {
  std::string text = DevConfig();
  const std::size_t at = text.find(key + " = ");
  return text.erase(at, text.find('\n', at) - at + 1);
}

std::string With(const std::string& key, const std::string& value) {
  return Without(key) + key + " = " + value + "\n";
}

std::string Error(const std::string& text) {
  Result<NotifyConfig> c = ParseNotifyConfig(text, "/s");
  return c.ok() ? std::string("(accepted)") : c.status().message();
}

TEST_CASE("Notify config reads the dev config and resolves relative paths", "[tools][notify]") {
  Result<NotifyConfig> c = ParseNotifyConfig(DevConfig(), "/s");
  REQUIRE(c.ok());
  CHECK(c->vault.tls);
  CHECK(c->vault.host == "127.0.0.1");
  CHECK(c->vault.port == 8443);
  CHECK(c->vault.target == "/");
  CHECK(c->ca == "/s/tls/ca.crt");
  CHECK(c->cert == "/s/tls/clients/notifier.crt");
  CHECK_FALSE(c->webhook.tls);
  CHECK(c->webhook.target == "/events");
  CHECK(c->webhook.Origin() == "http://127.0.0.1:9099");
  CHECK(c->batch_size == 100);
  CHECK(c->poll == std::chrono::seconds(5));
  CHECK(c->backoff_initial == std::chrono::seconds(1));
  CHECK(c->backoff_max == std::chrono::hours(1));
  CHECK(c->webhook_ca.empty());
}

TEST_CASE("Notify config refuses unknown keys and missing ones", "[tools][notify]") {
  CHECK(Error(DevConfig("poll_second = 5\n")) == "notify config: unknown key 'poll_second'");
  CHECK(Error(DevConfig("[extra]\n")) == "notify config: unknown key 'extra'");
  for (const char* key :
       {"vault_url", "ca", "cert", "key", "webhook_url", "secret_file", "state_dir"}) {
    CHECK(Error(Without(key)) == std::string("notify config: missing ") + key);
  }
  CHECK(Error(With("ca", "\"\"")) == "notify config: ca must be a non-empty string");
  CHECK(Error(With("ca", "3")) == "notify config: ca must be a non-empty string");
  CHECK(Error("vault_url = ").find("notify config: ") == 0);
}

TEST_CASE("Notify config refuses out-of-range numbers", "[tools][notify]") {
  CHECK(Error(With("batch_size", "0")) ==
        "notify config: batch_size must be between 1 and 1000, not 0");
  CHECK(Error(With("batch_size", "1001")) ==
        "notify config: batch_size must be between 1 and 1000, not 1001");
  CHECK(Error(With("batch_size", "\"10\"")) == "notify config: batch_size must be an integer");
  CHECK(Error(With("poll_seconds", "0")) ==
        "notify config: poll_seconds must be between 1 and 3600, not 0");
  CHECK(Error(With("poll_seconds", "3601")) ==
        "notify config: poll_seconds must be between 1 and 3600, not 3601");
  CHECK(Error(DevConfig("backoff_initial_ms = 5\n")) ==
        "notify config: backoff_initial_ms must be between 10 and 3600000, not 5");
  CHECK(Error(DevConfig("backoff_initial_ms = 500\nbackoff_max_ms = 100\n")) ==
        "notify config: backoff_max_ms must be between 500 and 3600000, not 100");
  CHECK(Error(DevConfig("backoff_max_ms = 3600001\n")) ==
        "notify config: backoff_max_ms must be between 1000 and 3600000, not 3600001");
  CHECK(Error(DevConfig("timeout_ms = 99\n")) ==
        "notify config: timeout_ms must be between 100 and 600000, not 99");
  Result<NotifyConfig> c = ParseNotifyConfig(With("batch_size", "1000") +
                                                 "backoff_initial_ms = 10\n"
                                                 "backoff_max_ms = 50\ntimeout_ms = 100\n",
                                             "/s");
  INFO(c.status().message());
  REQUIRE(c.ok());
  CHECK(c->batch_size == 1000);
  CHECK(c->backoff_max == std::chrono::milliseconds(50));
}

TEST_CASE("Notify config refuses webhooks that would send events in clear text",
          "[tools][notify]") {
  CHECK(Error(With("webhook_url", "\"http://siem.example.com/hook\"")) ==
        "notify config: webhook_url must be https unless its host is a loopback address: "
        "http://siem.example.com:80");
  CHECK(Error(With("webhook_url", "\"http://10.0.0.1:8080/\"")).find("must be https") !=
        std::string::npos);
  CHECK(Error(With("webhook_url", "\"ftp://127.0.0.1/\"")) ==
        "notify config: webhook_url must start with https:// or http://");
  CHECK(Error(DevConfig("webhook_ca = \"ca.pem\"\n")) ==
        "notify config: webhook_ca is only for an https webhook_url");
  CHECK(Error(With("vault_url", "\"http://127.0.0.1:8443\"")) ==
        "notify config: vault_url must be https (vaultd speaks only TLS)");
  for (const char* ok : {"\"http://localhost:9099/e\"", "\"http://[::1]:9099/e\"",
                         "\"http://127.0.0.2/e\"", "\"https://siem.example.com/c?t=1\""}) {
    CHECK(Error(With("webhook_url", ok)) == "(accepted)");
  }
}

TEST_CASE("ParseUrl splits scheme, host, port and target", "[tools][notify]") {
  Result<Url> u = ParseUrl("https://[::1]:9443/a/b?x=1", "u");
  REQUIRE(u.ok());
  CHECK(u->host == "::1");
  CHECK(u->port == 9443);
  CHECK(u->target == "/a/b?x=1");
  CHECK(u->Origin() == "https://[::1]:9443");
  u = ParseUrl("https://example.com?x", "u");
  REQUIRE(u.ok());
  CHECK(u->port == 443);
  CHECK(u->target == "/?x");
  CHECK(ParseUrl("https://[::1]/", "u")->host == "::1");
  for (const char* bad : {"https://", "https://:80/", "https://u:p@host/", "https://h:0/",
                          "https://h:99999/", "https://h:8x/", "https://h/#frag", "h:80"}) {
    INFO(bad);
    CHECK_FALSE(ParseUrl(bad, "u").ok());
  }
}

}  // namespace
}  // namespace escrow::tools
