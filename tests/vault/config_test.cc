#include "vault/config.h"

#include <unistd.h>

#include <array>
#include <fstream>

#include <catch2/catch.hpp>

#include "tests/support/temp_dir.h"

namespace escrow::vault {
namespace {

constexpr const char* kMinimal = R"(
[tls]
cert = "tls/server.crt"
key = "tls/server.key"
client_ca = "tls/ca.crt"
[[clients]]
name = "portal"
fingerprint = "0000000000000000000000000000000000000000000000000000000000000000"
role = "frontend"
[idp]
issuer = "https://idp"
audience = "vault"
keys = ["idp/key.pub"]
[hsm]
token_label = "t"
pin_file = "hsm/user.pin"
[database]
path = "vault.db"
)";

std::string Write(const testing::TempDir& dir, const std::string& text) {
  const std::string path = dir.str() + "/vault.conf";
  std::ofstream(path) << text;
  return path;
}

TEST_CASE("Config loads with defaults and resolves paths beside the file", "[vault][config]") {
  testing::TempDir dir;
  Result<VaultConfig> c = LoadConfig(Write(dir, kMinimal));
  REQUIRE(c.ok());
  CHECK(c->tls_cert == dir.str() + "/tls/server.crt");
  CHECK(c->db_path == dir.str() + "/vault.db");
  CHECK(c->owner_claim == "sub");
  CHECK(c->retrieve_per_user.count == 10);
  CHECK(c->verify_mismatches.count == 5);
  CHECK(c->verify_mismatches.window == std::chrono::hours(1));
  CHECK(c->cms_failures.count == 60);
  CHECK(c->cms_failures.window == std::chrono::seconds(60));
  CHECK(c->daily_quota == 25);
  CHECK_FALSE(c->mdm_rotation_command);
  CHECK(c->mdm_rotation_commands_per_day == 200);
  CHECK(c->keep_versions == 10);
  CHECK(c->key_display == std::chrono::minutes(5));
  CHECK(c->clients.size() == 1);
}

TEST_CASE("Rendered config loads back to the same values", "[vault][config]") {
  testing::TempDir dir;
  VaultConfig c = *LoadConfig(Write(dir, kMinimal));
  c.dev = true;
  c.failed_auth.count = 0;
  c.verify_mismatches = RateLimit{7, std::chrono::seconds(600)};
  c.cms_failures = RateLimit{3, std::chrono::seconds(120)};
  c.mdm_rotation_command = true;
  c.mdm_rotation_commands_per_day = 1;
  c.keep_versions = 0;
  c.listen = "127.0.0.1:0";
  Result<VaultConfig> back = LoadConfig(Write(dir, RenderConfig(c)));
  REQUIRE(back.ok());
  CHECK(back->dev);
  CHECK_FALSE(back->failed_auth.enabled());
  CHECK(back->listen == "127.0.0.1:0");
  CHECK(back->verify_mismatches.count == 7);
  CHECK(back->verify_mismatches.window == std::chrono::seconds(600));
  CHECK(back->cms_failures.count == 3);
  CHECK(back->cms_failures.window == std::chrono::seconds(120));
  CHECK(back->mdm_rotation_command);
  CHECK(back->mdm_rotation_commands_per_day == 1);
  CHECK(back->keep_versions == 0);
  CHECK(back->clients[0].fingerprint == c.clients[0].fingerprint);
}

// kMinimal with its [hsm] section's token line replaced by `hsm_lines`.
std::string WithHsm(const std::string& hsm_lines) {
  std::string text = kMinimal;
  const std::string label_line = "token_label = \"t\"\n";
  text.replace(text.find(label_line), label_line.size(), hsm_lines);
  return text;
}

TEST_CASE("[hsm] names the token by token_label or by a PKCS#11 URI, and takes init_args",
          "[vault][config][hsm]") {
  testing::TempDir dir;
  const std::string init_args =
      "configdir='sql:/var/lib/escrow/nssdb' certPrefix='' keyPrefix='' secmod='secmod.db' "
      "flags=";
  Result<VaultConfig> c = LoadConfig(
      Write(dir, WithHsm("token = \"pkcs11:token=NSS%20Certificate%20DB\"\ninit_args = \"" +
                         init_args + "\"\n")));
  INFO(c.status().ToString());
  REQUIRE(c.ok());
  CHECK(c->hsm_token_label.empty());
  CHECK(c->hsm_token_uri == "pkcs11:token=NSS%20Certificate%20DB");
  CHECK(c->hsm_init_args == init_args);
  CHECK(TokenName(*c) == c->hsm_token_uri);
  const hsm::HsmConfig h = *HsmConfigFor(*c);
  CHECK(h.token_uri == c->hsm_token_uri);
  CHECK(h.init_args == init_args);
  CHECK(h.pin_file == dir.str() + "/hsm/user.pin");

  // The writer vaultctl init uses keeps both, and a label config stays as it was.
  Result<VaultConfig> back = LoadConfig(Write(dir, RenderConfig(*c)));
  REQUIRE(back.ok());
  CHECK(back->hsm_token_uri == c->hsm_token_uri);
  CHECK(back->hsm_init_args == init_args);
  CHECK(back->hsm_token_label.empty());
  Result<VaultConfig> label = LoadConfig(Write(dir, kMinimal));
  REQUIRE(label.ok());
  const std::string rendered = RenderConfig(*label);
  CHECK_THAT(rendered, Catch::Contains("token_label = 't'"));
  CHECK_THAT(rendered, !Catch::Contains("init_args"));
  CHECK_THAT(rendered, !Catch::Contains("token = "));
  CHECK(TokenName(*label) == "t");
}

TEST_CASE("[hsm] refuses both token names, neither, and a URI with a PIN or an unknown attribute",
          "[vault][config][hsm]") {
  testing::TempDir dir;
  struct Case {
    std::string hsm;
    std::string says;
  };
  for (const Case& k : std::vector<Case>{
           {"token_label = \"t\"\ntoken = \"pkcs11:token=t\"\n", "both name the token"},
           {"", "missing hsm.token_label or hsm.token"},
           {"token = \"pkcs11:token=t;pin-value=secret\"\n",
            "hsm.token: token URI: attribute pin-value carries a PIN"},
           {"token = \"pkcs11:token=t?pin-source=file:/etc/pin\"\n", "pin-source carries a PIN"},
           {"token = \"pkcs11:token=t;shape=round\"\n", "unknown attribute shape"},
           {"token = \"escrow\"\n", "must start with pkcs11:"},
           {"token = 5\n", "hsm.token must be a string"},
           {"token_label = \"" + std::string(33, 'x') + "\"\n",
            "hsm.token_label: token label must be 1 to 32"},
           {"token_label = \"t\"\ninit_args = 1\n", "hsm.init_args must be a string"}}) {
    Result<VaultConfig> c = LoadConfig(Write(dir, WithHsm(k.hsm)));
    INFO(k.hsm);
    REQUIRE_FALSE(c.ok());
    CHECK_THAT(c.status().message(), Catch::Contains(k.says));
    CHECK_THAT(c.status().message(), !Catch::Contains("secret"));
    CHECK(c.status().message().find('\n') == std::string::npos);
  }
}

TEST_CASE("Config errors name the key in one line", "[vault][config]") {
  testing::TempDir dir;
  struct Case {
    std::string text;
    std::string says;
  };
  for (const Case& k : std::vector<Case>{
           {std::string(kMinimal) + "[limits]\nretrieve_per_usr = { count = 0 }\n", "retrieve_per_usr"},
           {std::string(kMinimal) + "[policy]\ndaily_quota = \"25\"\n", "policy.daily_quota"},
           {std::string(kMinimal) + "[policy]\ndaily_quota = -1\n", "policy.daily_quota"},
           {std::string(kMinimal) + "[limits]\nverify_mismatches = { count = -1 }\n",
            "limits.verify_mismatches.count"},
           {std::string(kMinimal) + "[limits]\nverify_mismatches = 5\n",
            "limits.verify_mismatches"},
           {std::string(kMinimal) + "[limits]\ncms_failures = { count = -1 }\n",
            "limits.cms_failures.count"},
           {std::string(kMinimal) + "[policy]\nmdm_rotation_command = 1\n",
            "policy.mdm_rotation_command"},
           {std::string(kMinimal) + "[policy]\nmdm_rotation_commands = true\n",
            "mdm_rotation_commands"},
           {std::string(kMinimal) + "[limits]\nmdm_rotation_commands_per_day = 0\n",
            "limits.mdm_rotation_commands_per_day"},
           {std::string(kMinimal) + "[limits]\nmdm_rotation_commands_per_day = 1000001\n",
            "limits.mdm_rotation_commands_per_day"},
           {std::string(kMinimal) + "[policy]\nkeep_versions = -1\n", "policy.keep_versions"},
           {std::string(kMinimal) + "[policy]\nkeep_versions = 10001\n",
            "policy.keep_versions"},
           {std::string(kMinimal) + "[policy]\nkeep_versions = \"10\"\n",
            "policy.keep_versions"},
           {"[tls\n", "line"},
           {std::string(kMinimal) + "[[clients]]\nname=\"m\"\nfingerprint=\"ab\"\nrole=\"mdm\"\n", "fingerprint"},
           {std::string(kMinimal) + "[[clients]]\nname=\"m\"\nfingerprint=\"" + std::string(64, 'a') + "\"\nrole=\"root\"\n", "clients.role"},
           {"dev = true\n", "missing"}}) {
    Result<VaultConfig> c = LoadConfig(Write(dir, k.text));
    REQUIRE_FALSE(c.ok());
    CHECK(c.status().message().find(k.says) != std::string::npos);
    CHECK(c.status().message().find('\n') == std::string::npos);
  }
  CHECK_FALSE(LoadConfig(dir.str() + "/missing.conf").ok());
}

TEST_CASE("Approvals are off by default, and their roles and lifetime are checked",
          "[vault][config]") {
  testing::TempDir dir;
  Result<VaultConfig> plain = LoadConfig(Write(dir, kMinimal));
  REQUIRE(plain.ok());
  CHECK(plain->approval_roles.empty());
  CHECK(plain->approval_ttl == std::chrono::seconds(3600));
  Result<VaultConfig> on = LoadConfig(Write(
      dir, std::string(kMinimal) +
               "[policy]\napprovals = { roles = [\"helpdesk\", \"admin\"], ttl_seconds = 60 }\n"));
  REQUIRE(on.ok());
  CHECK(on->approval_roles == std::vector<std::string>{"helpdesk", "admin"});
  CHECK(on->approval_ttl == std::chrono::seconds(60));
  Result<VaultConfig> back = LoadConfig(Write(dir, RenderConfig(*on)));
  REQUIRE(back.ok());
  CHECK(back->approval_roles == on->approval_roles);
  CHECK(back->approval_ttl == on->approval_ttl);
  for (const auto& [line, says] : std::vector<std::pair<std::string, std::string>>{
           {"approvals = { roles = [\"root\"] }", "policy.approvals.roles"},
           {"approvals = { roles = [\"auditor\"] }", "policy.approvals.roles"},
           {"approvals = { roles = [\"approver\"] }", "policy.approvals.roles"},
           {"approvals = { roles = \"helpdesk\" }", "policy.approvals.roles"},
           {"approvals = { roles = [], ttl_seconds = 59 }", "policy.approvals.ttl_seconds"},
           {"approvals = { roles = [], ttl_seconds = 604801 }", "policy.approvals.ttl_seconds"},
           {"approvals = { roles = [], ttl = 60 }", "policy.approvals.ttl"},
           {"approvals = true", "policy.approvals"}}) {
    Result<VaultConfig> c = LoadConfig(Write(dir, std::string(kMinimal) + "[policy]\n" + line + "\n"));
    INFO(line);
    REQUIRE_FALSE(c.ok());
    CHECK(c.status().message().find(says) != std::string::npos);
  }
}

TEST_CASE("Events are kept 30 days unless [events] keep_days says, from 1 to 3650",
          "[vault][config][events]") {
  testing::TempDir dir;
  Result<VaultConfig> plain = LoadConfig(Write(dir, kMinimal));
  REQUIRE(plain.ok());
  CHECK(plain->event_keep_days == 30);
  for (int days : {1, 7, 3650}) {
    Result<VaultConfig> c = LoadConfig(
        Write(dir, std::string(kMinimal) + "[events]\nkeep_days = " + std::to_string(days) + "\n"));
    REQUIRE(c.ok());
    CHECK(c->event_keep_days == days);
    Result<VaultConfig> back = LoadConfig(Write(dir, RenderConfig(*c)));
    REQUIRE(back.ok());
    CHECK(back->event_keep_days == days);
  }
  for (const auto& [text, says] : std::vector<std::pair<std::string, std::string>>{
           {"[events]\nkeep_days = 0\n", "events.keep_days"},
           {"[events]\nkeep_days = 3651\n", "events.keep_days"},
           {"[events]\nkeep_days = \"30\"\n", "events.keep_days"},
           {"[events]\nkeep = 30\n", "events.keep"},
           {"events = 30\n", "[events]"}}) {
    Result<VaultConfig> c = LoadConfig(Write(dir, text + kMinimal));
    INFO(text);
    REQUIRE_FALSE(c.ok());
    CHECK(c.status().message().find(says) != std::string::npos);
  }
}

TEST_CASE("A client may have the notifier role, and no unknown one", "[vault][config][events]") {
  testing::TempDir dir;
  std::string text = kMinimal;
  const std::string frontend = "role = \"frontend\"";
  text.replace(text.find(frontend), frontend.size(), "role = \"notifier\"");
  Result<VaultConfig> c = LoadConfig(Write(dir, text));
  REQUIRE(c.ok());
  CHECK(c->clients.at(0).role == "notifier");
  text.replace(text.find("role = \"notifier\""), 17, "role = \"notify\"");
  Result<VaultConfig> bad = LoadConfig(Write(dir, text));
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message().find("clients.role") != std::string::npos);
}

TEST_CASE("[database] takes a SQLite path or a PostgreSQL url, and refuses unsafe urls",
          "[vault][config][postgres]") {
  testing::TempDir dir;
  const std::string minimal = kMinimal;
  const std::string base = minimal.substr(0, minimal.find("[database]"));
  const auto load = [&](const std::string& database) {
    return LoadConfig(Write(dir, base + "[database]\n" + database));
  };
  Result<VaultConfig> pg = load(
      "url = \"postgresql://vault@db.example.com:5432/vault?sslmode=verify-full\"\n"
      "password_file = \"db.password\"\n");
  REQUIRE(pg.ok());
  CHECK(pg->db_path.empty());
  CHECK(pg->db_password_file == dir.str() + "/db.password");
  const storage::StoreOptions options = StoreOptionsFor(*pg);
  CHECK(options.url == pg->db_url);
  CHECK(options.path.empty());
  // Rendered and read back, it is still PostgreSQL.
  Result<VaultConfig> back = LoadConfig(Write(dir, RenderConfig(*pg)));
  REQUIRE(back.ok());
  CHECK(back->db_url == pg->db_url);
  CHECK(back->db_password_file == pg->db_password_file);
  CHECK(back->db_path.empty());
  // A Unix socket needs no TLS.
  CHECK(load("url = \"postgresql://vault@%2Fvar%2Frun%2Fpostgresql/vault\"\n").ok());

  for (const char* bad : {
           "url = \"postgresql://vault:secret@db.example.com/vault?sslmode=verify-full\"\n",
           "url = \"postgresql://vault@db.example.com/vault\"\n",
           "url = \"postgresql://vault@db.example.com/vault?sslmode=require\"\n",
           "url = \"postgresql://vault@db.example.com/vault?sslmode=verify-full&password=x\"\n",
           "url = \"mysql://vault@db/vault\"\n",
           "path = \"vault.db\"\nurl = \"postgresql://vault@%2Ftmp/vault\"\n",
           "path = \"vault.db\"\npassword_file = \"db.password\"\n",
           "\n"}) {
    INFO(bad);
    Result<VaultConfig> c = load(bad);
    REQUIRE_FALSE(c.ok());
    CHECK(c.status().message().find('\n') == std::string::npos);
    // A refused URL is never echoed with its secret.
    CHECK(c.status().message().find("secret") == std::string::npos);
  }
}

TEST_CASE("A node's name: [server] node, else the host name with a url, else none",
          "[vault][config][postgres]") {
  testing::TempDir dir;
  const std::string minimal = kMinimal;
  const std::string base = minimal.substr(0, minimal.find("[database]"));
  Result<VaultConfig> sqlite = LoadConfig(Write(dir, kMinimal));
  REQUIRE(sqlite.ok());
  CHECK(*NodeNameFor(*sqlite) == "");  // one vaultd: the unnamed checkpoint
  Result<hsm::HsmConfig> hsm = HsmConfigFor(*sqlite);
  REQUIRE(hsm.ok());
  CHECK(hsm->node.empty());
  CHECK(hsm->token_label == "t");

  Result<VaultConfig> pg =
      LoadConfig(Write(dir, base + "[database]\nurl = \"postgresql://vault@%2Ftmp/vault\"\n"));
  REQUIRE(pg.ok());
  std::array<char, 256> host{};
  REQUIRE(gethostname(host.data(), host.size() - 1) == 0);
  CHECK(*NodeNameFor(*pg) == std::string(host.data()));

  Result<VaultConfig> named =
      LoadConfig(Write(dir, "[server]\nnode = \"vault-2\"\n" + base +
                                "[database]\nurl = \"postgresql://vault@%2Ftmp/vault\"\n"));
  REQUIRE(named.ok());
  CHECK(*NodeNameFor(*named) == "vault-2");
  CHECK(HsmConfigFor(*named)->node == "vault-2");
  Result<VaultConfig> back = LoadConfig(Write(dir, RenderConfig(*named)));
  REQUIRE(back.ok());
  CHECK(back->node == "vault-2");

  Result<VaultConfig> bad = LoadConfig(Write(dir, "[server]\nnode = \"a@b\"\n" + minimal));
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(bad.status().message(), Catch::Contains("[server] node"));
}

}  // namespace
}  // namespace escrow::vault
